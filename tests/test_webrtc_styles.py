"""Issue 17 in the browser: your own picture as the style (POST /style-image, the file picker, drag and drop),
a blend slider between two styles, and keeping the video's colours (data-channel messages).

The server runs in-process on a free local port (test_webrtc's helpers); control messages go over a real
data channel from a receive-only aiortc peer (no camera to encode). Pictures go through a tiny conditional
network trained for a few steps (test_conditional's fixture), never the shipped one. Every wait is on
something the server or the page reports; nothing depends on how fast this machine is.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from test_conditional import conditional, picture, png_with_header_size  # noqa: F401  (conditional: a fixture)
from test_webrtc import (Client, _free_port, _wait_for_url, camera_image, make_server, make_tinted_style,
                         mean_abs_diff, running, wait_until)

from realtime.colour import keep_colours
from realtime.frames import Frame
from realtime.webrtc.messages import BadRequest, parse_control
from realtime.webrtc.server import MAX_PICTURE_BYTES

REPO = Path(__file__).resolve().parents[1]
PATIENCE_S = 120.0  # only turns a hang into a failure


@pytest.fixture
def pictures_here(conditional, tmp_path, monkeypatch) -> Path:  # noqa: F811
    """Pictures go through the tiny conditional network; styles and uploads are cached in tmp_path."""
    monkeypatch.setenv("STYLECAST_CONDITIONAL", str(conditional))
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def styled(server) -> np.ndarray:
    """What the server's processor makes of the test camera picture now."""
    return server.processor.process(Frame(camera_image(), 0.0, 0.0, 0)).image


def png(path: Path) -> bytes:
    return path.read_bytes()


def uploaded_name(data: bytes) -> str:
    """The style an upload becomes: named by its bytes' SHA-256, never by anything the client says."""
    return f"upload_{hashlib.sha256(data).hexdigest()[:20]}"


async def upload(http, base: str, data: bytes, content_type: str = "image/png", **headers) -> tuple[int, str]:
    async with http.post(f"{base}/style-image", data=data, headers={"Content-Type": content_type, **headers}) as r:
        return r.status, await r.text()


async def viewer(http, base: str) -> Client:
    """A receive-only peer: a real data channel for control messages, no camera to encode."""
    client = Client(role="view")
    await client.connect(http, base)
    return client


async def next_message(client: Client, kind: str) -> dict:
    while True:
        message = await asyncio.wait_for(client.messages.get(), PATIENCE_S)
        if message["type"] == kind:
            return message


def test_an_uploaded_picture_becomes_the_style_and_joins_the_picker(pictures_here, tiny_style, tmp_path):
    server = make_server(tiny_style)
    before = styled(server)
    data = png(picture(tmp_path / "mine.png", 6))

    async def scenario() -> str:
        async with running(server) as (base, http):
            page = await viewer(http, base)
            status, text = await upload(http, base, data)
            assert status == 200, text
            answer = json.loads(text)
            name = answer["style"]
            assert name.startswith("upload_") and server.processor.style_name == name
            listed = {s["name"]: s for s in answer["styles"]}
            assert listed[name]["blendable"] and listed[name]["description"] == "your picture"
            # every page hears of it: the picker's new list, then the state
            assert name in [s["name"] for s in (await next_message(page, "styles"))["styles"]]
            assert (await next_message(page, "state"))["style"] == name
            async with http.get(f"{base}/styles") as response:  # the picker lists it, its thumbnail is the picture
                assert name in [s["name"] for s in (await response.json())["styles"]]
            async with http.get(f"{base}/styles/{name}/preview") as response:
                assert response.status == 200 and response.content_type == "image/jpeg"
            # the uploaded style blends like a shipped one
            state = await page.control({"type": "blend", "a": name, "b": "mosaic", "value": 0.5})
            assert state["style"] == f"{name[:20]}-50-mosaic-50", state
            state = await page.control({"type": "style", "name": name})  # and can be picked again
            assert state["style"] == name and state["blend"] is None
            status, text = await upload(http, base, data)  # the same picture again: the same style, nothing new
            assert status == 200 and json.loads(text)["style"] == name
            assert sum(s["name"] == name for s in json.loads(text)["styles"]) == 1
            await page.close()
            return name

    name = asyncio.run(scenario())
    after = styled(server)
    assert mean_abs_diff(after, before) > 5  # a frame processed now is styled by the picture's network
    # kept under its bytes' SHA-256 in a private folder: the decoded picture, never the client's name or bytes
    folder = pictures_here / "uploads"
    assert [p.name for p in folder.iterdir()] == [f"{uploaded_name(data)}.png"] and name == uploaded_name(data)
    assert folder.stat().st_mode & 0o077 == 0


def test_bad_uploads_get_one_line_and_the_style_stays(tiny_style, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLECAST_CONDITIONAL", str(tmp_path / "none.safetensors"))  # as while it is trained
    server = make_server(tiny_style, token="s3cret")
    before = styled(server)
    good = png(picture(tmp_path / "good.png", 1))
    one_pixel = io.BytesIO()
    Image.new("RGB", (1, 1)).save(one_pixel, format="PNG")
    jpeg = io.BytesIO()
    Image.open(picture(tmp_path / "big.png", 3, size=(400, 300))).save(jpeg, format="JPEG")
    assert MAX_PICTURE_BYTES == 16_000_000

    async def scenario() -> None:
        async with running(server) as (base, http):
            token = {"X-Stylecast-Token": "s3cret"}
            status, text = await upload(http, base, good)  # no token: refused before anything is read
            assert status == 401 and "token" in text
            cases = [
                (b"hello, I am a text file", "image/png", 400, "not a picture"),
                (jpeg.getvalue()[: len(jpeg.getvalue()) // 3], "image/jpeg", 400, "damaged or cut-short"),
                (one_pixel.getvalue(), "image/png", 400, "too small"),
                (png_with_header_size(tmp_path / "bomb.png", 30000, 30000).read_bytes(), "image/png", 400,
                 "too large"),
                (b"", "image/png", 400, "no picture"),
                (good, "text/plain", 415, "image/*"),
                (good, "application/x-www-form-urlencoded", 415, "image/*"),  # what a cross-site form can send
                (good, "image/png", 400, "conditional style network"),  # a good picture, but no network here
            ]
            for data, content_type, want, says in cases:
                status, text = await upload(http, base, data, content_type, **token)
                assert status == want and says in text, (says, status, text)
                assert text.endswith("\n") and "\n" not in text.rstrip("\n"), text  # one line
            server.max_picture_bytes = 50_000  # small enough to be read whole before the answer
            status, text = await upload(http, base, os.urandom(60_000), "image/png", **token)  # Content-Length
            assert status == 413 and "larger than 0.05 MB" in text, text

            async def streamed():  # chunked: no Content-Length to refuse early, counted as it comes
                for _ in range(6):
                    yield os.urandom(10_000)
            status, text = await upload(http, base, streamed(), "image/png", **token)
            assert status == 413 and "larger than" in text, text
            assert server.processor.style_name == "tiny"

    asyncio.run(scenario())
    assert mean_abs_diff(styled(server), before) == 0  # the stream kept its style
    uploads = tmp_path / "cache" / "uploads"
    assert [p.name for p in uploads.iterdir()] == [f"{uploaded_name(good)}.png"]  # only the good picture was kept


def test_fuzzed_pictures_and_messages_are_refused_in_one_line(tiny_style, tmp_path, monkeypatch):
    """Damaged pictures of every format Pillow knows: a 400 with one line each, never a 500 (the network is
    missing here, so even one that still decodes is refused); random blend/keep_colours messages: parsed
    within range, or a BadRequest."""
    from test_fuzz_signalling import random_json

    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLECAST_CONDITIONAL", str(tmp_path / "none.safetensors"))
    rng = random.Random(0)
    pixels = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    seeds = []
    for kind in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format=kind)
        seeds.append(out.getvalue())
    bodies = []
    for _ in range(60):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            if rng.random() < 0.6:
                data[at] = rng.randrange(256)
            else:
                del data[at:at + rng.randint(1, 64)]
        bodies.append(bytes(data) or b"\0")
    server = make_server(tiny_style)

    async def scenario() -> None:
        async with running(server) as (base, http):
            for data in bodies:
                status, text = await upload(http, base, data)
                assert status == 400 and "\n" not in text.rstrip("\n"), (status, text)
            async with http.get(f"{base}/status") as response:
                assert response.status == 200 and (await response.json())["style"] == "tiny"

    asyncio.run(scenario())
    for kind in ("blend", "keep_colours"):
        for _ in range(150):
            fields = {"type": kind, "a": random_json(rng), "b": rng.choice(["mosaic", random_json(rng)]),
                      "value": rng.choice([random_json(rng), rng.uniform(-1, 2), rng.random()])}
            try:
                message = parse_control(json.dumps(fields))
            except BadRequest as exc:
                assert str(exc) and "\n" not in str(exc) and len(str(exc)) <= 200
                continue
            if kind == "blend":
                assert isinstance(message["a"], str) and isinstance(message["b"], str)
                assert 0.0 <= message["value"] <= 1.0 and type(message["value"]) is float
            else:
                assert type(message["value"]) is bool


@pytest.mark.parametrize("message, says", [
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": float("nan")}, "between 0"),
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": float("inf")}, "between 0"),
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": 1.5}, "between 0"),
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": -0.1}, "between 0"),
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": True}, "between 0"),
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": "0.5"}, "between 0"),
    ({"type": "blend", "a": "mosaic", "b": "scream", "value": 10 ** 1000}, "between 0"),
    ({"type": "blend", "a": "mosaic", "value": 0.5}, "'a' and 'b'"),
    ({"type": "blend", "a": 3, "b": "scream", "value": 0.5}, "'a' and 'b'"),
    ({"type": "blend", "a": "x" * 101, "b": "scream", "value": 0.5}, "'a' and 'b'"),
    ({"type": "keep_colours", "value": 1}, "true/false"),
    ({"type": "keep_colours"}, "true/false"),
])
def test_blend_and_keep_colours_messages_are_checked(message, says):
    with pytest.raises(BadRequest, match=says):
        parse_control(json.dumps(message))


def test_blend_and_keep_colours_apply_and_a_dragged_slider_makes_only_the_latest(pictures_here, tiny_style,
                                                                                 tmp_path, monkeypatch):
    make_tinted_style(tmp_path, "warm", (3.0, 0.0, -3.0))  # a style with no picture: it cannot be blended
    server = make_server(tiny_style, tmp_path)
    camera = camera_image()
    gate = threading.Event()
    gate.set()
    prepare = server.processor.stylizer.prepare

    def gated_prepare(style):
        assert gate.wait(PATIENCE_S), "the gate was never opened"
        return prepare(style)

    monkeypatch.setattr(server.processor.stylizer, "prepare", gated_prepare)

    async def scenario() -> None:
        async with running(server) as (base, http):
            page = await viewer(http, base)
            state = await page.control({"type": "keep_colours", "value": True})
            assert state["keep_colours"] is True and server.processor.keep_colours
            raw = server.processor.stylizer(camera)
            assert mean_abs_diff(styled(server), keep_colours(camera, raw)) < 1  # the camera's colours
            await page.control({"type": "keep_colours", "value": False})
            assert mean_abs_diff(styled(server), raw) < 1

            state = await page.control({"type": "blend", "a": "mosaic", "b": "scream", "value": 0.3})
            assert state["style"] == "mosaic-70-scream-30", state
            assert state["blend"] == {"a": "mosaic", "b": "scream", "value": 0.3}
            for value, style in ((0, "mosaic"), (1, "scream")):  # the ends are the styles themselves
                state = await page.control({"type": "blend", "a": "mosaic", "b": "scream", "value": value})
                assert state["style"] == style and state["blend"]["value"] == value
            for message, says in [
                ({"type": "blend", "a": "nosuch", "b": "scream", "value": 0.5}, "unknown style 'nosuch'"),
                ({"type": "blend", "a": "mosaic", "b": "warm", "value": 0.5}, "'warm' cannot be blended"),
                ('{"type": "blend", "a": "mosaic", "b": "scream", "value": NaN}', "'value' between 0"),
                ({"type": "blend", "a": "mosaic", "b": "scream", "value": 2}, "'value' between 0"),
            ]:
                reply = await page.control(message, expect="error")
                assert says in reply["message"], reply
            assert server.processor.style_name == "scream"

            # a dragged slider: while one switch is being prepared (held here), frames keep coming in the
            # old style and ten newer positions arrive; only the last of them is made after it
            old = styled(server)
            gate.clear()
            asked, made = server.switcher.requested, server.switcher.made
            values = [round(0.05 * i, 2) for i in range(1, 11)]
            for value in values:
                page.channel.send(json.dumps({"type": "blend", "a": "mosaic", "b": "scream", "value": value}))
            await wait_until(lambda: server.switcher.requested == asked + len(values))
            frame = av.VideoFrame.from_ndarray(camera, format="rgb24")
            during = await asyncio.wait_for(server.worker.process(frame), PATIENCE_S)  # the stream runs on
            assert mean_abs_diff(during, old) == 0 and server.processor.style_name == "scream"
            gate.set()
            while (state := await next_message(page, "state"))["blend"]["value"] != values[-1]:
                assert state["blend"]["value"] == values[0], state  # the one under way when the others came
            assert state["style"] == "mosaic-50-scream-50"
            assert server.switcher.made - made == 2, "intermediate slider positions were made"
            await page.close()

    asyncio.run(scenario())


# --- the real page in headless Chromium ----------------------------------------------------------

@pytest.mark.timeout(600)
def test_the_page_uploads_a_picture_drops_one_blends_and_keeps_colours(conditional, tiny_style,  # noqa: F811
                                                                       tmp_path):
    from test_webrtc_browser import CHROMIUM, PATIENCE_MS, playing_page

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect

    mine = picture(tmp_path / "mine.png", 6)
    dropped = picture(tmp_path / "dropped.png", 9).read_bytes()
    env = {**os.environ, "STYLECAST_CONDITIONAL": str(conditional), "STYLECAST_CACHE": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "stream.py"), "serve", "--port", str(_free_port()), "--style", str(tiny_style),
         "--no-captions", "--backend", "pytorch-cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    try:
        url = _wait_for_url(process)
        with playing_page(url, height=900) as (_, page):
            page.wait_for_function("() => window.stylecast.state && window.stylecast.state.style === 'tiny'",
                                   timeout=PATIENCE_MS)
            message = page.locator("#style-message")

            # the file picker: the message area names the new style, every control follows
            page.set_input_files("#style-file", str(mine))
            name = uploaded_name(mine.read_bytes())
            expect(message).to_have_text(f"Style {name}: made from mine.png", timeout=PATIENCE_MS)
            expect(message).to_have_class("notice done", timeout=PATIENCE_MS)
            page.wait_for_function(f"() => window.stylecast.state.style === '{name}'", timeout=PATIENCE_MS)
            card = page.locator(f".style-card[data-style='{name}']")  # in the picker, picked, showing the picture
            expect(card).to_have_attribute("aria-checked", "true", timeout=PATIENCE_MS)
            expect(card.locator("img")).to_be_visible(timeout=PATIENCE_MS)

            # a file that is not a picture: one line in the message area, the style stays
            page.set_input_files("#style-file", files=[{"name": "notes.png", "mimeType": "image/png",
                                                       "buffer": b"not a picture at all"}])
            expect(message).to_have_class("notice error", timeout=PATIENCE_MS)
            expect(message).to_contain_text("not a picture", timeout=PATIENCE_MS)
            assert page.evaluate("() => window.stylecast.state.style") == name

            # a picture dropped on the page
            page.dispatch_event("#output", "drop", {"dataTransfer": page.evaluate_handle(
                """(bytes) => { const data = new DataTransfer();
                    data.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
                    return data; }""", list(dropped))})
            second = uploaded_name(dropped)
            expect(message).to_have_text(f"Style {second}: made from dropped.png", timeout=PATIENCE_MS)
            page.wait_for_function(f"() => window.stylecast.state.style === '{second}'", timeout=PATIENCE_MS)

            # the blend slider between the two pictures (the page starts it from the style in use)
            expect(page.locator("#blend-a")).to_have_value(second, timeout=PATIENCE_MS)
            page.select_option("#blend-b", name)
            page.fill("#blend", "40")
            page.wait_for_function("""() => { const b = window.stylecast.state.blend;
                return b && b.value === 0.4 && window.stylecast.state.style.endsWith('-40'); }""",
                                   timeout=PATIENCE_MS)
            assert page.evaluate("() => window.stylecast.state.blend") == {"a": second, "b": name, "value": 0.4}
            expect(page.locator("#blend-value")).to_have_text("40%", timeout=PATIENCE_MS)

            # keep the video's colours
            page.click("label:has(#keep-colours)")
            page.wait_for_function("() => window.stylecast.state.keep_colours === true", timeout=PATIENCE_MS)
            expect(page.locator("#error")).to_be_hidden(timeout=PATIENCE_MS)
    finally:
        process.terminate()
        output = process.communicate(timeout=PATIENCE_S)[0]
    assert process.returncode == 0 and "Traceback" not in output, output
