"""WebRTC server: real aiortc peers against the real server on a free local port.

A synthetic camera (a fixed colour gradient) is sent over WebRTC; what comes back is compared
numerically with what the shared FrameProcessor makes of the same image.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest
import torch
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError
from PIL import Image

from export.backends import create_stylizer
from realtime.frames import Frame
from realtime.processor import FrameProcessor
from realtime.webrtc.auth import is_loopback, resolve_token
from realtime.webrtc.catalog import StyleCatalog
from realtime.webrtc.serve import machine_addresses
from realtime.webrtc.server import CLIENT_MAX_SIZE, StreamServer, ice_configuration
from training.checkpoint import save_style
from training.model import StyleNetwork

REPO = Path(__file__).resolve().parents[1]
SIZE = (120, 160)  # H, W: small, software VP8 is CPU-heavy
TINTS = {"warm": (3.0, 0.0, -3.0), "cool": (-3.0, 0.0, 3.0)}  # per-colour output bias -> clearly different looks

# Every wait below is on an event (a frame, a message, a state the server reports); the limits only turn a
# hang into a failure and are far longer than anything takes on a busy machine.
PATIENCE_S = 120.0
SETTLE_FRAMES = 150  # frames a change may take to show (those already on their way when it was made)


def make_tinted_style(folder: Path, name: str, tint: tuple[float, float, float]) -> Path:
    """A small random StyleNetwork whose last layer is biased towards a colour, plus a preview JPEG."""
    torch.manual_seed(len(name))
    model = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2)
    with torch.no_grad():
        last = model.output[-1]  # the full-size conv: one output channel per colour
        for colour, bias in enumerate(tint):
            last.bias[colour] += bias
    preview = np.zeros((64, 64, 3), np.uint8)
    preview[...] = [255 if t > 0 else 30 for t in tint]
    Image.fromarray(preview).save(folder / f"{name}.jpg")
    return save_style(model, folder / f"{name}.safetensors", name=name, description=f"{name} test style",
                      preview=f"{name}.jpg")


@pytest.fixture(scope="module")
def style_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("webrtc-styles")
    for name, tint in TINTS.items():
        make_tinted_style(folder, name, tint)
    return folder


def camera_image() -> np.ndarray:
    """HxWx3 uint8 RGB: smooth gradients (VP8 keeps them well, so differences come from the style)."""
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]]
    return np.stack([xx * 255 // SIZE[1], yy * 255 // SIZE[0], np.full_like(xx, 96)], -1).astype(np.uint8)


class GradientCamera(VideoStreamTrack):
    """A synthetic camera at 30 fps sending `camera_image()`."""

    def __init__(self) -> None:
        super().__init__()
        self.image = camera_image()

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def changed_fraction(a: np.ndarray, b: np.ndarray, threshold: int = 80) -> float:
    """Share of pixels that differ a lot in some channel (burned-in text), not by codec noise."""
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(-1) > threshold).mean())


class Client:
    """An aiortc page stand-in: camera (or recvonly), control channel, received video and messages."""

    def __init__(self, role: str = "send"):
        self.role = role
        self.pc = RTCPeerConnection(ice_configuration())
        self.channel = self.pc.createDataChannel("control")
        self.messages: asyncio.Queue[dict] = asyncio.Queue()
        self.opened = asyncio.Event()
        self.remote: asyncio.Future = asyncio.get_running_loop().create_future()
        self.channel.on("open", self.opened.set)
        self.channel.on("message", lambda raw: self.messages.put_nowait(json.loads(raw)))
        self.pc.on("track", lambda track: self.remote.done() or self.remote.set_result(track))
        self._reader: asyncio.Task | None = None
        self._arrived = asyncio.Condition()
        self._latest: av.VideoFrame | None = None
        self._count = 0
        if role == "send":
            self.pc.addTrack(GradientCamera())
        else:
            self.pc.addTransceiver("video", direction="recvonly")

    async def connect(self, http: aiohttp.ClientSession, base: str) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        body = {"sdp": self.pc.localDescription.sdp, "type": "offer", "role": self.role}
        async with http.post(f"{base}/offer", json=body) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        await asyncio.wait_for(self.opened.wait(), PATIENCE_S)

    async def frame(self, skip: int = 0) -> np.ndarray:
        """The next frame to arrive after `skip` more (frames already in flight are not returned) as RGB."""
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read(await asyncio.wait_for(self.remote, PATIENCE_S)))
        wanted = self._count + skip + 1
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: self._count >= wanted), PATIENCE_S)
        return self._latest.to_ndarray(format="rgb24")

    async def settled(self, check, what: str) -> np.ndarray:
        """The first arriving frame for which check(frame) holds, once the frames that were already on their
        way (encoded, in the network, decoded but not read: more on a busy machine) have passed; the next two
        frames must hold too, so the change lasts."""
        for _ in range(SETTLE_FRAMES):
            got = await self.frame()
            if check(got):
                for _ in range(2):
                    assert check(await self.frame()), f"{what}: it did not last"
                return got
        raise AssertionError(f"{what}: not in {SETTLE_FRAMES} frames")

    async def _read(self, track) -> None:
        """Keep only the newest received frame, as a page does (no backlog in the receive queue)."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:  # the connection closed
                return
            async with self._arrived:
                self._latest, self._count = frame, self._count + 1
                self._arrived.notify_all()

    async def control(self, message: dict | str, expect: str = "state") -> dict:
        """Send a control message (a dict, or raw text) and return the first reply of type `expect`."""
        while not self.messages.empty():  # earlier replies (the greeting state) are not the answer
            self.messages.get_nowait()
        self.channel.send(message if isinstance(message, str) else json.dumps(message))
        while True:
            reply = await asyncio.wait_for(self.messages.get(), PATIENCE_S)
            if reply["type"] == expect:
                return reply

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


def make_server(style: Path, style_dir: Path | None = None, token: str | None = None) -> StreamServer:
    processor = FrameProcessor(create_stylizer(style, "pytorch-cpu"))
    return StreamServer(processor, StyleCatalog(processor.stylizer.info, style_dir), token=token)


@contextlib.asynccontextmanager
async def running(server: StreamServer, tls=None):
    """The server's aiohttp app on 127.0.0.1:<free port>; yields (base URL, HTTP session)."""
    from aiohttp import web

    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for IPs
                                         connector=aiohttp.TCPConnector(ssl=False)) as http:  # self-signed
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", http
    finally:
        await runner.cleanup()  # runs on_shutdown: closes every peer connection


async def wait_until(condition, timeout: float = PATIENCE_S) -> None:
    """Until `condition()` (a state the server or aiortc reports) holds; looked at every 50 ms."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_frames_come_back_stylized_and_controls_apply_without_renegotiating(style_dir: Path) -> None:
    server = make_server(style_dir / "warm.safetensors", style_dir)
    camera = camera_image()

    def expected(style: str) -> np.ndarray:
        stylizer = create_stylizer(style_dir / f"{style}.safetensors", "pytorch-cpu")
        return FrameProcessor(stylizer).process(Frame(camera, 0.0, 0.0, 0)).image

    async def scenario() -> None:
        async with running(server) as (base, http):
            client = Client()
            await client.connect(http, base)
            got = await client.frame()
            assert got.shape == camera.shape
            # what came back is the processor's output (up to VP8 loss), not the camera
            got = await client.settled(lambda f: mean_abs_diff(f, expected("warm")) < 6, "the warm style")
            assert mean_abs_diff(got, camera) > 40

            state = await client.control({"type": "style", "name": "cool"})
            assert state["style"] == "cool"
            got = await client.settled(lambda f: mean_abs_diff(f, expected("cool")) < 6, "the switch to cool")
            assert mean_abs_diff(got, expected("warm")) > 40

            state = await client.control({"type": "style_enabled", "value": False})
            assert state["style_enabled"] is False
            await client.settled(lambda f: mean_abs_diff(f, camera) < 6, "style off")

            await client.control({"type": "style_enabled", "value": True})
            await client.control({"type": "strength", "value": 0.5})
            half = (camera.astype(np.float32) + expected("cool").astype(np.float32)) / 2
            await client.settled(lambda f: mean_abs_diff(f, half.round().astype(np.uint8)) < 6, "strength 0.5")

            pong = await client.control({"type": "ping", "t": 12.5}, expect="pong")
            assert pong["t"] == 12.5 and pong["server"]["peers"] == 1 and pong["server"]["received"] > 0
            for bad in ("{", '{"type": "style", "name": "../../etc/passwd"}', '{"type": "strength", "value": 7}',
                        '{"type": "launch"}', "[]", '{"type": "ping", "pad": "%s"}' % ("x" * 4000)):
                error = await client.control(bad, expect="error")
                assert error["message"]
            assert server.processor.style_name == "cool" and server.processor.strength == 0.5
            assert (await client.frame()).shape == camera.shape  # still streaming after the bad messages
            await client.close()

            async with http.get(f"{base}/styles") as response:  # the picker: names and thumbnails
                listed = {s["name"]: s for s in (await response.json())["styles"]}
            assert {"warm", "cool"} <= set(listed)
            async with http.get(base + listed["cool"]["preview"]) as response:
                thumbnail = np.asarray(Image.open(io.BytesIO(await response.read())))
            assert max(thumbnail.shape[:2]) <= 160 and thumbnail[..., 2].mean() > 200  # the blue preview
            async with http.get(f"{base}/styles/nope/preview") as response:
                assert response.status == 404

    asyncio.run(scenario())


def test_viewer_page_gets_the_first_senders_output(style_dir: Path) -> None:
    server = make_server(style_dir / "warm.safetensors")
    styled = FrameProcessor(create_stylizer(style_dir / "warm.safetensors", "pytorch-cpu")).process(
        Frame(camera_image(), 0.0, 0.0, 0)).image

    async def scenario() -> None:
        async with running(server) as (base, http):
            viewer = Client("view")
            await viewer.connect(http, base)
            placeholder = await viewer.frame()
            assert placeholder.max() < 40  # dark "nobody is sending" frame, video keeps playing
            sender = Client()
            await sender.connect(http, base)
            sent = await sender.settled(lambda f: mean_abs_diff(f, styled) < 6, "the sender's stylized frames")
            shown = await viewer.settled(lambda f: f.shape == sent.shape and mean_abs_diff(f, sent) < 6,
                                         "the viewer showing the sender")
            second = Client()  # a second camera page at once: its own connection, the same model
            await second.connect(http, base)
            await second.settled(lambda f: mean_abs_diff(f, sent) < 6, "the second sender's frames")
            await sender.settled(lambda f: mean_abs_diff(f, sent) < 6, "the first sender's frames")
            assert server.broadcast.active_sender == min(server.peers) + 1  # viewer is peer 1, first sender 2
            async with http.get(f"{base}/status") as response:
                status = await response.json()
            assert (status["peers"], status["senders"], status["viewers"]) == (3, 2, 1) and status["frames"] > 0
            await second.close()
            await sender.close()
            await wait_until(lambda: len(server.peers) == 1)
            await viewer.settled(lambda f: f.max() < 40, "back to the placeholder")
        assert not server.peers  # shutdown closed the viewer that was still connected
        await wait_until(lambda: viewer.pc.connectionState == "closed")

    asyncio.run(scenario())


def test_bad_signalling_is_refused_and_the_server_keeps_serving(tiny_style: Path) -> None:
    server = make_server(tiny_style)

    async def scenario() -> None:
        async with running(server) as (base, http):
            async def post(data: bytes) -> tuple[int, str]:
                async with http.post(f"{base}/offer", data=data,
                                     headers={"Content-Type": "application/json"}) as response:
                    return response.status, await response.text()

            status, _ = await post(b"x" * (CLIENT_MAX_SIZE + 1))
            assert status == 413
            no_ice = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
            cases = {
                b"{not json": "not valid JSON",
                b"[1, 2]": "JSON object",
                json.dumps({"type": "answer", "sdp": "v=0"}).encode(): "type",
                json.dumps({"type": "offer", "sdp": 5}).encode(): "sdp",
                json.dumps({"type": "offer", "sdp": "garbage"}).encode(): "v=0",
                json.dumps({"type": "offer", "sdp": no_ice}).encode(): "ICE",
                json.dumps({"type": "offer", "sdp": "v=0", "role": "admin"}).encode(): "role",
                "\u00ff\u00fe".encode("latin-1"): "not valid JSON",
                b"[" * 60_000: "nested too deeply",  # under the size cap, over the JSON parser's recursion limit
            }
            for body, says in cases.items():
                status, text = await post(body)
                assert status == 400 and says in text, (body, status, text)
            # a real offer whose SDP is cut short after the checks pass: aiortc's error becomes a 400
            client = Client()
            await client.pc.setLocalDescription(await client.pc.createOffer())
            mangled = re.sub(r"a=rtpmap:.*\r\n", "", client.pc.localDescription.sdp)
            status, text = await post(json.dumps({"type": "offer", "sdp": mangled}).encode())
            assert status == 400, text
            await client.close()
            assert not server.peers
            client = Client()  # and the server still answers a good offer
            await client.connect(http, base)
            assert (await client.frame()).shape == (*SIZE, 3)
            server.max_peers = 1  # a full server says so instead of starving everyone
            extra = Client()
            await extra.pc.setLocalDescription(await extra.pc.createOffer())
            status, text = await post(json.dumps({"type": "offer", "sdp": extra.pc.localDescription.sdp}).encode())
            assert status == 503 and "connections" in text
            await extra.close()
            await client.close()

    asyncio.run(scenario())


def _peer_connections_alive() -> int:
    gc.collect()
    return sum(type(o) is RTCPeerConnection for o in gc.get_objects())


def test_connect_disconnect_cycles_free_peers_and_threads(tiny_style: Path) -> None:
    server = make_server(tiny_style)

    async def cycle(http: aiohttp.ClientSession, base: str) -> None:
        client = Client()
        await client.connect(http, base)
        await client.frame()
        server_side = [peer.pc for peer in server.peers.values()]
        await client.close()
        del client
        # the server forgets the peer first and closes its connection after: wait for the close to be over
        # (aiortc reports "closed" once its receivers' decoder threads are joined), not for a while
        await wait_until(lambda: not server.peers and all(pc.connectionState == "closed" for pc in server_side))

    async def scenario() -> tuple[list[int], list[int]]:
        threads, alive = [], []
        async with running(server) as (base, http):
            for i in range(20):
                await cycle(http, base)
                if i in (4, 19):  # after a warm-up (executors grow to their size once), and at the end
                    threads.append(threading.active_count())
                    alive.append(_peer_connections_alive())
        return threads, alive

    threads, alive = asyncio.run(scenario())
    assert threads[1] <= threads[0] + 1, f"threads grew over 15 connect/disconnect cycles: {threads}"
    assert alive[1] <= alive[0] <= 1, f"peer connections not freed: {alive}"


def test_token_is_required_when_set(tiny_style: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert resolve_token("127.0.0.1", None) is None
    assert len(resolve_token("0.0.0.0", None)) >= 16 and resolve_token("0.0.0.0", "given") == "given"
    server = make_server(tiny_style, token="s3cret")

    async def scenario() -> None:
        async with running(server) as (base, http):
            for path in ("/", "/viewer", "/client.js", "/styles"):
                async with http.get(base + path) as response:
                    assert response.status == 401, path
            async with http.post(f"{base}/offer", data=b"{}") as response:
                assert response.status == 401
            async with http.get(f"{base}/?token=wrong") as response:
                assert response.status == 401
            async with http.get(f"{base}/?token=s3cret") as response:
                assert response.status == 200 and "<video" in await response.text()
            async with http.get(f"{base}/styles") as response:  # the cookie set by the page load
                assert response.status == 200 and "tiny" in [s["name"] for s in (await response.json())["styles"]]

    asyncio.run(scenario())


def test_cli_on_a_public_address_prints_a_token_and_requires_it(tiny_style: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "stream.py"), "serve", "--host", "0.0.0.0", "--port", str(port),
         "--style", str(tiny_style), "--no-captions"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=dict(os.environ))
    try:
        url = _wait_for_url(process)
        token = re.search(r"token=([\w-]+)", url).group(1)
        host = re.match(r"https?://\[?([^/\]]+?)\]?:\d+/", url).group(1)
        assert host in machine_addresses() or host == "THIS-MACHINE-ADDRESS", url  # never localhost or 0.0.0.0

        async def check() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/") as response:
                    assert response.status == 401
                async with http.get(f"http://127.0.0.1:{port}/?token={token}") as response:
                    assert response.status == 200

        asyncio.run(check())
    finally:
        process.terminate()
        process.wait(PATIENCE_S)


def test_cli_errors_are_one_line(tmp_path: Path, tiny_style: Path, capsys: pytest.CaptureFixture) -> None:
    from stream import main

    def run(*args: str) -> tuple[int, str]:
        code = main(["serve", "--style", str(tiny_style), "--no-captions", *args])
        return code, capsys.readouterr().err

    code, err = run("--cert", str(tmp_path / "missing.pem"))
    assert code == 2 and err.count("\n") == 1 and "--key" in err
    (tmp_path / "c.pem").write_text("not a certificate")
    code, err = run("--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "c.pem"))
    assert code == 2 and err.count("\n") == 1 and "certificate" in err
    code, err = run("--styles-dir", str(tmp_path / "nope"))
    assert code == 2 and "--styles-dir" in err


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_url(process: subprocess.Popen, timeout: float = 60.0) -> str:
    """The 'open http://...' line the server prints once it listens."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = re.search(r"open (https?://\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError("server did not start:\n" + "".join(seen))


def test_captions_arrive_as_text_and_burned_into_the_video(style_dir: Path) -> None:
    from argparse import Namespace

    from realtime.run import start_captioning

    server = make_server(style_dir / "warm.safetensors")
    captioning = start_captioning(Namespace(captions=True, caption_every=0.5), server.processor, None)
    server.captioning = captioning
    plain = FrameProcessor(server.processor.stylizer).process(Frame(camera_image(), 0.0, 0.0, 0)).image

    async def scenario() -> None:
        async with running(server) as (base, http):
            client = Client()
            await client.connect(http, base)
            assert server.state()["captions"] and server.state()["captions_available"]
            while (message := await asyncio.wait_for(client.messages.get(), PATIENCE_S))["type"] != "caption":
                pass
            assert message["text"].strip() and message["duration"] > 0
            # narration runs on a low-priority thread and may publish a caption after its time window;
            # keep looking until a frame shows one (bottom strip changed, the rest untouched)
            top, bottom = slice(0, SIZE[0] // 3), slice(2 * SIZE[0] // 3, SIZE[0])
            for _ in range(SETTLE_FRAMES):
                if changed_fraction((got := await client.frame())[bottom], plain[bottom]) >= 0.03:
                    break
            else:
                raise AssertionError(f"no caption was burned into {SETTLE_FRAMES} frames")
            assert changed_fraction(got[top], plain[top]) < 0.002
            state = await client.control({"type": "captions", "value": False})
            assert state["captions"] is False
            await client.settled(lambda f: mean_abs_diff(f, plain) < 6, "captions off")
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        captioning.finish()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway localhost certificate and key (PEM), made with `cryptography` (aiortc's own dependency)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_serves_the_page_and_accepts_offers(tmp_path: Path, tiny_style: Path) -> None:
    from realtime.webrtc.server import ssl_context

    server = make_server(tiny_style)
    tls = ssl_context(*self_signed_certificate(tmp_path))

    async def scenario() -> None:
        async with running(server, tls) as (base, http):
            assert base.startswith("https://")
            async with http.get(base + "/") as response:
                assert response.status == 200 and "<video" in await response.text()
            client = Client()
            await client.connect(http, base)
            assert (await client.frame()).shape == (*SIZE, 3)
            await client.close()

    asyncio.run(scenario())


class HandFedCamera(MediaStreamTrack):
    """A camera whose frames the test hands over one by one (pts: 5 ms apart, as at 200 fps)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.made = 0
        self.frames: asyncio.Queue[av.VideoFrame] = asyncio.Queue()
        self.asked = asyncio.Condition()
        self.calls = 0

    def feed(self, count: int) -> None:
        for _ in range(count):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = self.made * 5, Fraction(1, 1000)
            self.made += 1
            self.frames.put_nowait(frame)

    async def recv(self) -> av.VideoFrame:
        async with self.asked:
            self.calls += 1
            self.asked.notify_all()
        return await self.frames.get()

    async def taken(self) -> None:
        """Until every frame fed so far has been read (the reader is asking for the next one)."""
        async with self.asked:
            await asyncio.wait_for(self.asked.wait_for(lambda: self.calls > self.made), PATIENCE_S)


class HeldStylizer:
    """Stands in for a model that is busy with each frame until the test lets it go."""

    name = "held"
    info = type("Info", (), {"name": "held"})()

    def __init__(self) -> None:
        self.entered, self.go = threading.Semaphore(0), threading.Semaphore(0)

    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        self.entered.release()
        assert self.go.acquire(timeout=PATIENCE_S), "the model was never let go"
        return 255 - frame


def test_stale_camera_frames_are_dropped_so_latency_stays_bounded() -> None:
    """While the model works on a frame the camera delivers 20 more; the next frame stylized is the newest of
    them, never a queued one, so every frame sent is one model call behind the camera, however long it runs."""
    from realtime.webrtc.track import StylizedTrack
    from realtime.webrtc.worker import InferenceWorker

    rounds, per_call = 6, 20

    async def scenario() -> tuple[list[float], StylizedTrack]:
        camera, model = HandFedCamera(), HeldStylizer()
        worker = InferenceWorker(FrameProcessor(model))
        track = StylizedTrack(camera, worker)
        ages = []
        camera.feed(1)
        for _ in range(rounds):
            sending = asyncio.ensure_future(track.recv())
            assert await asyncio.to_thread(model.entered.acquire, timeout=PATIENCE_S)  # busy with a frame
            camera.feed(per_call)  # ... while the camera goes on
            await camera.taken()
            model.go.release()
            frame = await asyncio.wait_for(sending, PATIENCE_S)
            assert frame.time_base == Fraction(1, 1000) and frame.to_ndarray(format="rgb24").min() == 255
            ages.append((camera.made - 1) * 5 - frame.pts)  # ms behind the newest camera frame
        track.stop()
        worker.close()
        return ages, track

    ages, track = asyncio.run(scenario())
    # a queue would fall 20 - 1 = 19 frames (95 ms) further behind with every frame (> 500 ms by the 6th);
    # taking the newest keeps every frame exactly the one model call (20 camera frames) behind
    assert ages == [per_call * 5] * rounds, ages
    assert track.dropped == rounds * (per_call - 1) and track.sent == rounds
