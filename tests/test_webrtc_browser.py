"""The real page in a real headless Chromium (Debian's package) against `stream.py serve`.

Chromium's fake camera feeds getUserMedia; the test reads pixels back from the page (the <video>
elements drawn into a canvas) to check that stylized frames arrive, that they are not the camera
picture, and that picking another style in the UI changes them without reconnecting.
Set STYLECAST_SCREENSHOT=docs/webrtc.png to also save the screenshot of the page in use there.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from test_webrtc import TINTS, _free_port, _wait_for_url, make_tinted_style

CHROMIUM = Path("/usr/bin/chromium")
# --no-zygote: no zygote process forking and reaping renderers. Once here a reaped zygote child livelocked
# the VM's kernel (release_task -> shrink_dcache_parent at 100 % system time, immune to kill -9).
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-sandbox", "--no-zygote",
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
REPO = Path(__file__).resolve().parents[1]

# Every wait is on something the page or the server reports; the limits only turn a hang into a failure.
PATIENCE_S = 120
PATIENCE_MS = PATIENCE_S * 1000

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"),
]

# Mean RGB of a <video> (drawn into a small canvas) and its mean absolute difference to another <video>.
PIXELS_JS = """([a, b]) => {
  const grab = (id) => {
    const video = document.getElementById(id);
    const canvas = document.createElement("canvas");
    canvas.width = 80; canvas.height = 60;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, 80, 60);
    return ctx.getImageData(0, 0, 80, 60).data;
  };
  const pa = grab(a), pb = b ? grab(b) : null;
  const mean = [0, 0, 0]; let diff = 0;
  for (let i = 0; i < pa.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      mean[c] += pa[i + c];
      if (pb) diff += Math.abs(pa[i + c] - pb[i + c]);
    }
  }
  const n = pa.length / 4;
  return { mean: mean.map((v) => v / n), diff: pb ? diff / (3 * n) : null };
}"""
PLAYING_JS = """(id) => { const v = document.getElementById(id);
  return v && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0.3; }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`stream.py serve` on a free port with two clearly different test styles; yields the page URL."""
    folder = tmp_path_factory.mktemp("browser-styles")
    for name, tint in TINTS.items():
        make_tinted_style(folder, name, tint)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "stream.py"), "serve", "--port", str(port), "--style",
         str(folder / "warm.safetensors"), "--styles-dir", str(folder), "--caption-every", "2",
         "--backend", "pytorch-cpu"],  # no ONNX export at start: the test styles are new each run
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        yield _wait_for_url(process)
    finally:
        process.terminate()  # SIGTERM: a clean shutdown (peers, captioner and its helper process closed)
        output = process.communicate(timeout=PATIENCE_S)[0]
        assert process.returncode == 0 and "stopping" in output, output
        assert "Traceback" not in output, output


def server_status(page_url: str) -> dict:
    with urllib.request.urlopen(page_url.rstrip("/") + "/status", timeout=PATIENCE_S) as response:
        return json.load(response)


def wait_for_peers(page_url: str, count: int, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while (peers := server_status(page_url)["peers"]) != count:
        assert time.monotonic() < deadline, f"{peers} peer connections open on the server, expected {count}"
        time.sleep(0.2)


def red_minus_blue(sample: dict) -> float:
    return sample["mean"][0] - sample["mean"][2]


def chromium_without_realtime() -> Path:
    """Chromium started as an ordinary (SCHED_OTHER) process that cannot make its threads real-time.

    Twice a suite run hung here: every Chromium thread was SCHED_FIFO (inherited: opening SVT-AV1 as root had
    made the test process real-time, fixed in recorder.scheduling_kept) and two of them spun in the kernel,
    starving the 2-core VM, time-outs included. So the browser is started with `chrt -o 0` (whatever the
    parent's policy) and without CAP_SYS_NICE (it cannot ask for real-time either). Not root, or no
    chrt/setpriv: Chromium itself."""
    chrt, setpriv = shutil.which("chrt"), shutil.which("setpriv")
    if os.geteuid() != 0 or chrt is None or setpriv is None:
        return CHROMIUM
    wrapper = Path(tempfile.gettempdir()) / f"stylecast-chromium-{os.getpid()}.sh"
    if not wrapper.exists():
        wrapper.write_text(f"#!/bin/sh\nexec {chrt} -o 0 {setpriv} --inh-caps=-sys_nice --ambient-caps=-sys_nice "
                           f"--bounding-set=-sys_nice {CHROMIUM} \"$@\"\n")
        wrapper.chmod(0o755)
    return wrapper


@contextlib.contextmanager
def playing_page(url: str, height: int, camera: Path | None = None) -> Iterator[tuple]:
    """(browser, page): headless Chromium with the fake camera on `url`, once the styled video plays.

    camera: a .y4m clip the fake camera plays (looped) instead of Chromium's own test pattern."""
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_ARGS + ([f"--use-file-for-fake-video-capture={camera}"] if camera else [])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_without_realtime()), args=args,
                                             headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": height})
            page.goto(url + "?w=320&h=240")
            page.wait_for_function(PLAYING_JS, arg="output", timeout=PATIENCE_MS)
            yield browser, page
        finally:
            browser.close()


def test_page_streams_stylized_video_and_switches_style(server: str, tmp_path: Path) -> None:
    with playing_page(server, height=760) as (browser, page):
        page.wait_for_function(PLAYING_JS, arg="camera", timeout=PATIENCE_MS)

        # the returned video is the warm style, far from what the camera sends
        warm = page.evaluate(PIXELS_JS, ["output", "camera"])
        assert warm["diff"] > 30, warm
        assert red_minus_blue(warm) > 60, warm
        camera = page.evaluate(PIXELS_JS, ["camera", None])
        assert abs(red_minus_blue(camera)) < 60, camera  # the fake camera is not red-tinted itself

        # pick the other style in the picker: it goes over the data channel, same connection
        connection = page.evaluate("() => window.stylecast.pc.localDescription.sdp")
        page.click(".style-card[data-style=cool]")
        page.wait_for_function("() => window.stylecast.state && window.stylecast.state.style === 'cool'",
                               timeout=PATIENCE_MS)
        page.wait_for_function(f"""() => {{ const s = ({PIXELS_JS})(["output", null]);
            return s.mean[2] - s.mean[0] > 60; }}""", timeout=PATIENCE_MS)
        cool = page.evaluate(PIXELS_JS, ["output", "camera"])
        assert cool["diff"] > 30 and red_minus_blue(cool) < -60, cool
        assert page.evaluate("() => window.stylecast.pc.localDescription.sdp") == connection
        assert page.get_attribute(".style-card[data-style=cool]", "aria-checked") == "true"

        # style off: the returned video is the camera picture again (a few frames of latency apart)
        page.click("label:has(#style-enabled)")
        page.wait_for_function(f"""() => ({PIXELS_JS})(["output", "camera"]).diff < 20""", timeout=PATIENCE_MS)
        page.click("label:has(#style-enabled)")

        # camera size: applied to the sending track in place (what WebRTC then sends is up to its
        # bandwidth/CPU adaptation, so only the camera side is checked)
        page.select_option("#camera-size", "640x480")
        page.wait_for_function("() => window.stylecast.pc.getSenders()[0].track.getSettings().width === 640",
                               timeout=PATIENCE_MS)
        assert page.evaluate("() => window.stylecast.pc.localDescription.sdp") == connection

        # live stats: frames per second painted, round trip over the data channel
        page.wait_for_function("() => window.stylecast.stats.fps > 1 && window.stylecast.stats.rtt !== null",
                               timeout=PATIENCE_MS)
        assert float(page.inner_text("#stat-rtt")) >= 0
        # narration arrives as text too, in the aria-live region screen readers announce
        assert page.get_attribute("#captions", "aria-live") == "polite"
        page.wait_for_function("() => document.querySelector('#captions p')", timeout=PATIENCE_MS)
        assert page.inner_text("#captions p:last-child").strip()

        # the OBS viewer page shows the same stylized output, recvonly
        viewer = browser.new_page(viewport={"width": 640, "height": 480})
        viewer.goto(server.rstrip("/") + "/viewer")
        viewer.wait_for_function(PLAYING_JS, arg="output", timeout=PATIENCE_MS)
        viewer.wait_for_function(f"""() => {{ const s = ({PIXELS_JS})(["output", null]);
            return s.mean[2] - s.mean[0] > 60; }}""", timeout=PATIENCE_MS)
        viewer.close()

        wait_for_peers(server, 1)  # the viewer page's connection went away with it
        shot = tmp_path / "webrtc.png"
        page.wait_for_function("() => window.stylecast.stats.fps > 1", timeout=PATIENCE_MS)  # stats in the picture
        page.evaluate("() => window.scrollTo(0, 0)")  # the clicks above scrolled the controls into view
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("STYLECAST_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["STYLECAST_SCREENSHOT"])

        # closing the page closes its peer connection on the server
        page.close()
        wait_for_peers(server, 0)
