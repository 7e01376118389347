"""Sinks: recordings (timestamps, audio, full disk), the virtual camera, image files, preview hotkeys."""
from __future__ import annotations

import errno
import os
import io
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from clips import decode, make_clip, pattern

from common.errors import UserError
from export.backends import create_stylizer
from realtime.controls import LiveControls, hotkey_help
from realtime.frames import Frame
from realtime.processor import FrameProcessor
from realtime.recorder import FileSink, check_output_path
from realtime.sinks import ImageFolderSink, PreviewSink, VirtualCameraSink
from realtime.sources import open_source
from training.checkpoint import save_style
from training.model import StyleNetwork

MS = Fraction(1, 1000)


def frames_at(times: list[float], size=(64, 48)) -> list[Frame]:
    return [Frame(pattern(i, *size), t, time.monotonic(), i, MS) for i, t in enumerate(times)]


def record(path: Path, frames: list[Frame], sink_class=FileSink, interrupted=False, **options) -> FileSink:
    sink = sink_class(path, fps=options.pop("fps", 10), time_base=options.pop("time_base", MS), **options)
    try:
        for frame in frames:
            sink.write(frame)
    finally:
        sink.close(interrupted=interrupted)
    return sink


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_recording_keeps_variable_timestamps(tmp_path, suffix):
    times = [0.0, 0.1, 0.25, 0.5, 0.55]
    record(tmp_path / f"vfr{suffix}", frames_at(times))
    out = decode(tmp_path / f"vfr{suffix}")
    assert np.allclose(out.pts, times, atol=1e-3)
    assert np.abs(out.frames[2].astype(int) - pattern(2, 64, 48)).mean() < 8


def test_timestamps_that_do_not_increase_are_nudged_not_rejected(tmp_path):
    record(tmp_path / "dup.mp4", frames_at([0.0, 0.1, 0.1, 0.1]))
    pts = decode(tmp_path / "dup.mp4").pts
    assert len(pts) == 4 and all(b > a for a, b in zip(pts, pts[1:]))


def test_odd_frame_sizes_are_padded_to_even_and_said(tmp_path, capsys):
    record(tmp_path / "odd.mp4", frames_at([0.0, 0.1], size=(63, 47)))
    frame = decode(tmp_path / "odd.mp4").frames[0]
    assert frame.shape == (48, 64, 3)  # no pixel lost: one edge row/column added
    assert np.abs(frame[:47, :63].astype(int) - pattern(0, 63, 47)).mean() < 8
    assert "63x47 is rounded up to 64x48" in capsys.readouterr().err


def _recording_of(clip: Path, out: Path, stop_after: int | None = None) -> FileSink:
    source = open_source(str(clip))
    frames = list(source.frames())[:stop_after]
    return record(out, frames, fps=source.fps, time_base=source.time_base, audio_from=source.audio_path,
                  interrupted=stop_after is not None)


def test_audio_is_copied_whole_when_the_input_ends(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12, fps=12)
    _recording_of(clip, tmp_path / "out.mkv")
    original, copied = decode(clip), decode(tmp_path / "out.mkv")
    assert copied.audio_seconds == pytest.approx(original.audio_seconds, abs=1e-3)


def test_interrupted_recording_has_audio_up_to_its_last_frame(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=24, fps=12)
    _recording_of(clip, tmp_path / "cut.mp4", stop_after=6)
    cut = decode(tmp_path / "cut.mp4")
    assert len(cut.frames) == 6
    assert 0.3 <= cut.audio_seconds <= 6 / 12 + 2 * 1024 / 16000  # up to the video's end, within an AAC packet


class FilledDisk(io.RawIOBase):
    """A file that raises ENOSPC once `limit` bytes are written, like a full disk."""

    def __init__(self, path: Path, limit: int):
        self.file, self.limit, self.written = open(path, "wb"), limit, 0

    def writable(self):
        return True

    def write(self, data):
        if self.written + len(data) > self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.file.write(data)

    def close(self):
        self.file.close()
        super().close()


def test_full_disk_stops_with_a_playable_file(tmp_path):
    class SmallDiskSink(FileSink):
        def _open_file(self):
            return FilledDisk(self.path, 60_000)

    noise = np.random.default_rng(0)
    frames = [Frame(noise.integers(0, 255, (96, 160, 3), dtype=np.uint8), i / 12, 0.0, i, MS) for i in range(60)]
    with pytest.raises(UserError, match="disk full"):
        record(tmp_path / "full.mp4", frames, SmallDiskSink, fps=12)
    kept = decode(tmp_path / "full.mp4")
    assert 1 <= len(kept.frames) < 60
    assert np.array_equal(np.round(kept.pts, 3), np.round(np.arange(len(kept.frames)) / 12, 3))


@pytest.mark.parametrize("name, codec, message", [
    ("out.xyz", None, "file extension"),
    ("out.mp4", "nosuchcodec", "'nosuchcodec' is not available"),
    ("out.mp4", "aac", "not a video codec"),
])
def test_bad_output_settings_are_user_errors(name, codec, message):
    with pytest.raises(UserError, match=message):
        check_output_path(Path(name), codec)


def test_image_folder_sink_writes_pngs_under_the_given_names(tmp_path):
    sink = ImageFolderSink(tmp_path / "out", name_for=lambda frame: f"shot{frame.index}")
    for frame in frames_at([0.0, 0.1]):
        sink.write(frame)
    written = cv2.imread(str(tmp_path / "out" / "shot1.png"))[..., ::-1]
    assert np.array_equal(written, pattern(1, 64, 48))


def _loopback_device() -> str | None:
    for name_file in sorted(Path("/sys/class/video4linux").glob("video*/name")):
        if "loopback" in name_file.read_text().lower() or "stylecast" in name_file.read_text().lower():
            return f"/dev/{name_file.parent.name}"
    return None


@pytest.mark.skipif(_loopback_device() is not None, reason="a virtual camera device exists here")
def test_virtual_camera_without_a_device_says_how_to_install_one():
    sink = VirtualCameraSink(fps=30)
    with pytest.raises(UserError, match="no virtual camera available.*v4l2loopback"):
        sink.write(frames_at([0.0])[0])
    sink.close()


@pytest.mark.skipif(_loopback_device() is None, reason="no v4l2loopback device on this machine")
def test_virtual_camera_frames_reach_a_real_loopback_device():
    device = _loopback_device()
    sink = VirtualCameraSink(fps=30, device=device)
    reader = None
    try:
        for frame in frames_at([i / 30 for i in range(10)], size=(320, 240)):
            sink.write(frame)
            if reader is None:
                reader = cv2.VideoCapture(device)
        ok, bgr = reader.read()
        assert ok and bgr.shape == (240, 320, 3)
    finally:
        sink.close()
        if reader is not None:
            reader.release()


def test_preview_without_a_display_is_a_user_error(monkeypatch, tiny_style):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    controls = LiveControls(FrameProcessor(create_stylizer(tiny_style)), [str(tiny_style)])
    with pytest.raises(UserError, match="no display"):
        PreviewSink(controls)


@pytest.fixture(scope="module")
def second_style(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2)
    return save_style(model, tmp_path_factory.mktemp("styles") / "other.safetensors", name="other")


def test_hotkeys_switch_styles_strength_and_toggles_between_frames(tmp_path, tiny_style, second_style):
    processor = FrameProcessor(create_stylizer(tiny_style))
    controls = LiveControls(processor, [str(tiny_style), str(second_style)], screenshot_dir=tmp_path)
    frame = frames_at([0.0], size=(64, 48))[0]
    before = processor.process(frame).image

    assert controls.handle_key(ord("n")) == "style: other" and processor.style_name == "other"
    after = processor.process(frame).image
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1, "the new style must change the output"
    assert controls.handle_key(65361) == "style: tiny"  # left arrow

    assert controls.handle_key(ord("-")) == "strength 0.9" and processor.strength == pytest.approx(0.9)
    controls.handle_key(ord("+"))
    controls.handle_key(ord("+"))
    assert processor.strength == 1.0  # clamped
    for key in (65505, 65507, 65362, 65364, 0x10000 | ord("a")):  # Shift, Ctrl, up, down: no strength change
        assert controls.handle_key(key) is None and processor.strength == 1.0
    assert "[space] style on/off" in hotkey_help() and "[t]" not in hotkey_help()  # as the README says
    assert controls.handle_key(ord(" ")) == "style off"
    assert np.array_equal(processor.process(frame).image, frame.image)
    assert "no-captions" in controls.handle_key(ord("c"))

    message = controls.handle_key(ord("s"), frame.image)
    saved = Path(message.removeprefix("saved "))
    assert saved.parent == tmp_path and np.array_equal(cv2.imread(str(saved))[..., ::-1], frame.image)
    assert controls.handle_key(-1) is None and not controls.quit
    controls.handle_key(27)
    assert controls.quit


def test_a_broken_style_is_reported_not_fatal(tmp_path, tiny_style):
    processor = FrameProcessor(create_stylizer(tiny_style))
    controls = LiveControls(processor, [str(tiny_style), str(tmp_path / "missing.safetensors")])
    assert controls.handle_key(ord("n")).startswith("cannot load style")
    assert processor.style_name == "tiny"


def test_preview_hotkeys_switch_on_their_own_thread_while_frames_flow(tiny_style, second_style):
    """A slow switch (a picture's code, an export) never holds up the thread that shows frames and reads keys."""
    import threading

    processor = FrameProcessor(create_stylizer(tiny_style))
    release = threading.Event()
    prepare = processor.stylizer.prepare

    def slow_prepare(style):
        release.wait()
        return prepare(style)

    processor.stylizer.prepare = slow_prepare
    controls = LiveControls(processor, [str(tiny_style), str(second_style)], background=True)
    frame = frames_at([0.0], size=(64, 48))[0]
    assert controls.handle_key(ord("n")).startswith("loading style")
    for _ in range(3):  # frames keep coming in the old style while the new one is prepared
        processor.process(frame)
    assert processor.style_name == "tiny" and controls.take_message() is None
    release.set()
    assert controls.take_message(wait_s=240) == "style: other" and processor.style_name == "other"


def test_probing_and_using_encoders_leaves_the_program_scheduled_as_it_was(tmp_path):
    """SVT-AV1 makes the thread that opens it SCHED_FIFO when it can (as root); nothing may stay real-time."""
    from realtime.recorder import encoder_opens

    before = os.sched_getscheduler(0)
    encoder_opens.cache_clear()
    with pytest.raises(UserError):
        check_output_path(Path("out.mp4"), "nosuchcodec")  # lists the usable encoders: opens every one
    assert os.sched_getscheduler(0) == before
    if "libsvtav1" in av.codecs_available and encoder_opens("libsvtav1") is None:
        record(tmp_path / "av1.mkv", frames_at([0.0, 0.1]), codec="libsvtav1")
        assert os.sched_getscheduler(0) == before
