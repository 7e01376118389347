"""Fuzzing the WebRTC signalling endpoint, POST /offer (issue #19, part 3), on 127.0.0.1 only.

The real server (StreamServer's aiohttp app, as `stylecast serve` runs it) gets bodies that are not JSON,
JSON with fields of the wrong type, huge fields, NaN and Infinity, a wrong "type", oversized (plain,
chunked, gzip bomb) bodies, and real aiortc offers damaged: garbage lines, garbage attribute values,
huge lines, cut short, too many media sections. Wanted for each: a 4xx with a one-line reason (damaged
attribute values that aiortc can still use may get a 200 answer), never a 5xx, a traceback or an error
in the log, or a hang; afterwards the server still answers a good offer, no peer connection is left
behind, and RSS (and its peak, VmHWM) stays within a bound. The data-channel control parser is fuzzed
directly. Seeded, and bounded by count.
"""
from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection

from export.backends import create_stylizer
from realtime.processor import FrameProcessor
from realtime.webrtc.catalog import StyleCatalog
from realtime.webrtc.messages import BadRequest, parse_control
from realtime.webrtc.server import CLIENT_MAX_SIZE, StreamServer, ice_configuration

pytestmark = pytest.mark.timeout(120)

REQUEST_SECONDS = 120.0  # a hang guard only (a request takes milliseconds), never a speed test
RSS_GROWTH_MB = 16  # kept over the second pass (about 0-2 MB here); a body or peer kept per request is more
PEAK_GROWTH_MB = 48  # at any moment (the gzip bomb inflates to 60 MB if the size cap is not applied to it)
REASON_CHARS = 300


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    try:  # '5' resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peer_connections_alive() -> int:
    gc.collect()
    return sum(type(o) is RTCPeerConnection for o in gc.get_objects())


# --- inputs ------------------------------------------------------------------------------------------

async def real_offers() -> dict[str, str]:
    """What aiortc (as a page would) offers: camera + control channel ('send'), receive-only ('view')."""
    offers = {}
    for role, direction in (("send", "sendrecv"), ("view", "recvonly")):
        pc = RTCPeerConnection(ice_configuration())
        pc.addTransceiver("video", direction=direction)
        pc.createDataChannel("control")
        await pc.setLocalDescription(await pc.createOffer())
        offers[role] = pc.localDescription.sdp
        await pc.close()
    return offers


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 10**30, 0.5, 1e308, -1e308, math.nan, math.inf, -math.inf])
    if kind == 2:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 20)))
    if kind == 3:
        return rng.choice(["", "offer", "v=0", "send", "view", "x" * 40_000, "v=0\r\n" * 3000])
    if kind == 4:
        return rng.choice([[], {}, ["offer"], {"sdp": "v=0"}])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if kind == 6:
        return {rng.choice(["type", "sdp", "role", "x"]): random_json(rng, depth + 1) for _ in range(3)}
    nested: Any = "offer"
    for _ in range(rng.randrange(50, 500)):
        nested = {"a": nested}
    return nested


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode("utf-8", "surrogatepass")


def malformed_bodies(sdp: str, rng: random.Random):
    """(label, body, headers): each must get a 4xx."""
    good = body(type="offer", sdp=sdp, role="send")
    for _ in range(40):
        yield "random-bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))), None
    for _ in range(40):
        cut = rng.randrange(len(good) - 1)  # never a whole JSON object
        yield "json-cut", good[:cut], None
    for raw in [b"", b" ", b"null", b"1", b'"offer"', b"[]", b"true", b"{", b"}", b"\xff\xfe\xfd",
                b'\xef\xbb\xbf{"type": "offer"}', b'{"type": "offer", "sdp": "\xff"}',
                b'{"type": "offer", "sdp": NaN}', b'{"type": NaN, "sdp": "v=0"}', b'{"type": "offer", "sdp": Infinity}',
                b'{"type": "offer", "role": -Infinity, "sdp": "v=0"}', b'{"type": "offer", "sdp": 1e999}',
                b'{"type": "offer", "sdp": ' + b"9" * 5000 + b"}", b'{"type": ' + b"1" * 4400 + b"}",
                b"[" * 60_000, b'{"a":' * 20_000, b'{"type": "offer", "sdp": "v=0\\r\\n\\ud800"}',
                "\u00ff\u00fe".encode("latin-1"), json.dumps({"type": "offer", "sdp": sdp}).encode("utf-16")[:-2]]:
        yield "raw", raw, None
    for key in ("type", "sdp", "role"):
        for _ in range(30):
            value = random_json(rng)
            if key == "role" and value in ("send", "view"):
                continue
            fields = {"type": "offer", "sdp": "v=0", "role": "send", key: value}
            if key == "type" and value == "offer":
                continue
            yield f"wrong-{key}", body(**fields), None
    for wrong in ["answer", "pranswer", "rollback", "OFFER", " offer", "offer\x00", "", "offer" * 10_000]:
        yield "wrong-type", body(type=wrong, sdp=sdp, role="send"), None
    yield "huge-sdp", body(type="offer", sdp="v=0\r\n" + "a=x\r\n" * 8000), None
    yield "huge-role", body(type="offer", sdp=sdp, role="send" * 12_000), None
    yield "huge-unknown-field", body(type="offer", sdp="v=0", pad="x" * 50_000), None
    yield "oversized", b"{" + b" " * (CLIENT_MAX_SIZE + 10) + b"}", None
    yield "oversized-sdp", body(type="offer", sdp=sdp + "a=x\r\n" * 20_000), None
    yield "gzip-bomb", gzip.compress(b" " * (60 << 20)), {"Content-Encoding": "gzip"}  # 60 KB sent
    yield "gzip-garbage", b"\x1f\x8b" + bytes(rng.randrange(256) for _ in range(200)), {"Content-Encoding": "gzip"}


def damaged_sdps(offers: dict[str, str], rng: random.Random):
    """(label, role, sdp, may_answer): a 4xx each, or with may_answer, a 200 with an answer."""
    for _ in range(60):
        role = rng.choice(["send", "view"])
        sdp = offers[role]
        yield "cut", role, sdp[:rng.randrange(len(sdp.rstrip()))], False
    for _ in range(50):  # lines that are not SDP at all
        role = rng.choice(["send", "view"])
        lines = offers[role].split("\r\n")
        garbage = "".join(chr(rng.choice([rng.randrange(0, 32), rng.randrange(32, 0x3000)]))
                          for _ in range(rng.randrange(1, 40)))
        if len(garbage) > 1 and garbage[0].islower() and garbage[1] == "=":
            garbage = "#" + garbage
        lines.insert(rng.randrange(1, len(lines) - 1), garbage)
        yield "garbage-line", role, "\r\n".join(lines), False
    attributes = ["a=rtpmap:", "a=candidate:", "a=fingerprint:", "a=ssrc:", "a=rtcp-fb:", "c=", "a=mid:", "a=setup:",
                  "a=ice-ufrag:", "a=ice-pwd:", "a=fmtp:", "a=extmap:", "a=msid:", "a=sctp-port:", "a=group:",
                  "a=max-message-size:", "o=", "t=", "a=rtcp:", "a=ssrc-group:", "b=AS:", "m=video ", "m=audio "]
    values = ["", "x", "-1", "99999999999999999999", "1 2 3", "abc def ghi", "0 " * 50, "IN IP4 999.1.1.1",
              "foo.local 9 typ host", "1 1 udp 1 example.invalid 9 typ host", "97 VP8", "97 VP8/x", "BUNDLE 7"]
    for _ in range(100):  # SDP lines with values aiortc may or may not be able to use
        role = rng.choice(["send", "view"])
        lines = offers[role].split("\r\n")
        value = rng.choice(values + [" ".join(str(rng.randrange(-5, 300)) for _ in range(rng.randrange(1, 6)))])
        lines.insert(rng.randrange(2, len(lines) - 1), rng.choice(attributes) + value)
        yield "garbage-attribute", role, "\r\n".join(lines), True
    for _ in range(20):  # one line made longer than any browser writes
        role = rng.choice(["send", "view"])
        lines = offers[role].split("\r\n")
        spot = rng.randrange(1, len(lines) - 1)
        lines[spot] += "x" * rng.choice([3000, 10_000, 30_000])
        yield "huge-line", role, "\r\n".join(lines)[:32_000], False
    send = offers["send"]
    video = send[send.index("m=video"):send.index("m=application")]
    for copies in (9, 30):
        many = send[:send.index("m=video")] + "".join(video.replace("a=mid:0", f"a=mid:v{i}") for i in range(copies))
        yield f"media-sections:{copies}", "send", many[:32_000], False
    yield "mid-twice", "send", send.replace("a=mid:1", "a=mid:0"), False
    yield "mid-trailing-space", "send", send.replace("a=mid:0\r\n", "a=mid:0 \r\n"), False
    yield "bundle-unknown-mid", "send", send.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 7 1"), False
    yield "surrogate", "send", send.replace("a=setup:actpass", "a=setup:\ud800", 1), False
    yield "no-video", "send", send.replace("m=video", "m=vodeo"), False
    yield "send-but-recvonly", "send", send.replace("a=sendrecv", "a=recvonly"), False


# --- the server ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offers() -> dict[str, str]:
    return asyncio.run(real_offers())


def make_server(style: Path) -> StreamServer:
    processor = FrameProcessor(create_stylizer(style, "pytorch-cpu"))
    return StreamServer(processor, StyleCatalog(processor.stylizer.info))


class Probe:
    """Posts to /offer and checks each answer; collects what broke the rules."""

    def __init__(self, server: StreamServer, http: aiohttp.ClientSession, base: str):
        self.server, self.http, self.base = server, http, base
        self.statuses: dict[str, dict[int, int]] = {}

    async def post(self, label: str, data: bytes, headers: dict[str, str] | None = None,
                   may_answer: bool = False) -> int:
        started = time.monotonic()
        async with self.http.post(f"{self.base}/offer", data=data,
                                  headers={"Content-Type": "application/json", **(headers or {})}) as response:
            status, text = response.status, await response.text(errors="replace")
        took = time.monotonic() - started
        counts = self.statuses.setdefault(label, {})
        counts[status] = counts.get(status, 0) + 1
        where = f"{label}: {status} {text[:200]!r} for {data[:120]!r}"
        assert took < REQUEST_SECONDS, f"{where} took {took:.1f} s"
        if may_answer and status == 200:
            answer = json.loads(text)
            assert answer["type"] == "answer" and answer["sdp"].startswith("v=0"), where
            for peer in list(self.server.peers.values()):  # an accepted peer would wait 20 s for ICE
                await self.server.close_peer(peer)
        else:
            assert 400 <= status < 500, where
            assert text.endswith("\n") or status in (405, 413), where
            assert text.count("\n") <= 1 and len(text) <= REASON_CHARS and "Traceback" not in text, where
        assert not self.server.peers, f"{where}: a refused offer left a peer connection open"
        return status


def test_bad_signalling_is_4xx_and_the_server_keeps_serving(tiny_style: Path, offers: dict[str, str],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    server = make_server(tiny_style)
    rng = random.Random(0)
    bodies = list(malformed_bodies(offers["send"], rng))
    sdps = list(damaged_sdps(offers, rng))
    caplog.set_level(logging.WARNING)

    async def scenario() -> tuple[float, float, float, bool, Probe]:
        runner = web.AppRunner(server.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            # a connection per request: the server closes one after refusing a body it did not read
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS),
                                             connector=aiohttp.TCPConnector(force_close=True)) as http:
                probe = Probe(server, http, base)
                # twice: the first pass also warms up (imports, pools, and aiortc's per-connection memory,
                # which levels off only after ~100 accepted offers); RSS is compared over the second
                for repeat in range(2):
                    if repeat:
                        gc.collect()
                        resettable = _reset_peak()
                        rss0 = _status_kb("VmRSS") / 1024
                    for label, data, headers in bodies:
                        await probe.post(label, data, headers)
                    for label, role, sdp, may_answer in sdps:
                        await probe.post(label, body(type="offer", sdp=sdp, role=role), may_answer=may_answer)
                async with http.get(f"{base}/offer") as response:
                    assert response.status == 405
                async with http.put(f"{base}/offer", data=b"{}") as response:
                    assert response.status == 405
                for role in ("send", "view"):  # and a good offer still gets its answer
                    async with http.post(f"{base}/offer", json={"type": "offer", "sdp": offers[role], "role": role}) \
                            as response:
                        assert response.status == 200, await response.text()
                        assert (await response.json())["type"] == "answer"
                assert len(server.peers) == 2
                for peer in list(server.peers.values()):
                    await server.close_peer(peer)
                gc.collect()
                rss = _status_kb("VmRSS") / 1024
                peak = _status_kb("VmHWM") / 1024
        finally:
            await runner.cleanup()
        return rss0, rss, peak, resettable, probe

    rss0, rss, peak, resettable, probe = asyncio.run(scenario())
    total = sum(sum(counts.values()) for counts in probe.statuses.values())
    figures = f"{total} requests: RSS {rss0:.0f} -> {rss:.0f} MB, peak {peak:.0f} MB"
    print(figures, {label: counts for label, counts in probe.statuses.items()})
    assert total >= 2 * 440, probe.statuses
    assert rss - rss0 < RSS_GROWTH_MB, f"memory grew over the fuzz loop ({figures})"
    if resettable:
        assert peak - rss0 < PEAK_GROWTH_MB, f"a request made the server allocate far more than it sent ({figures})"
    assert _peer_connections_alive() == 0, "refused offers left RTCPeerConnection objects alive"
    logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not logged, f"errors or tracebacks in the log: {logged[:3]}"
    assert "Traceback" not in caplog.text


def test_control_messages_are_parsed_or_refused_as_bad_requests() -> None:
    """The data channel's messages (style, strength, ...) from a page: parsed, or a BadRequest; nothing else."""
    rng = random.Random(0)
    raws: list[str | bytes] = [json.dumps(random_json(rng)) for _ in range(150)]
    raws += [json.dumps({"type": t, "value": random_json(rng), "name": random_json(rng)})
             for t in ("style", "strength", "style_enabled", "captions", "ping") for _ in range(20)]
    raws += ["", "{", "[" * 2000, '{"type": "strength", "value": NaN}', '{"type": "ping", "id": ' + "1" * 4400 + "}",
             '{"type": "strength", "value": ' + "9" * 1500 + "}", b"binary", "\ud800", '{"type": "x' + "y" * 3000 + '"}']
    refused = 0
    for raw in raws:
        try:
            message = parse_control(raw)
        except BadRequest as exc:
            refused += 1
            assert str(exc) and "\n" not in str(exc) and len(str(exc)) <= 200, str(exc)
            continue
        assert isinstance(message, dict) and message["type"] in ("style", "strength", "style_enabled", "captions",
                                                                 "ping")
        if message["type"] == "strength":
            assert 0.0 <= message["value"] <= 1.0
        if message["type"] in ("style_enabled", "captions"):
            assert isinstance(message["value"], bool)
    assert refused >= len(raws) - 80
