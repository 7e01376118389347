"""Frame sources on media the tests make: files keep timestamps, damage is skipped, cameras fail clearly."""
from __future__ import annotations

import itertools
import time

import av
import cv2
import numpy as np
import pytest
from clips import decode, make_clip, pattern

import realtime.sources as sources
from common.errors import UserError
from realtime.sources import (CameraSource, DemoSource, ImageFolderSource, SourceLost, VideoFileSource, open_source,
                              parse_size)


def test_video_file_keeps_every_frame_and_its_timestamp(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=12, fps=12)
    source = open_source(str(clip))
    frames = list(source.frames())
    assert isinstance(source, VideoFileSource) and not source.live
    assert source.fps == 12 and source.expected_frames == 12 and source.audio_path == str(clip)
    assert [f.index for f in frames] == list(range(12))
    assert np.allclose([f.pts for f in frames], decode(clip).pts)
    assert frames[0].image.shape == (96, 160, 3) and frames[0].image.dtype == np.uint8
    assert np.abs(frames[3].image.astype(int) - pattern(3, 160, 96)).mean() < 8  # RGB order, not BGR


def test_video_file_resized_on_request(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    frame = next(open_source(str(clip), size=(80, 48)).frames())
    assert frame.image.shape == (48, 80, 3)


def _png_clip_with_damaged_frames(path, damaged=(3, 6)):
    """A 10-frame PNG-in-MOV clip whose frames `damaged` have their PNG signature overwritten."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data)) if data[i:i + 4] == b"\x89PNG"]
    for k in damaged:
        data[starts[k]:starts[k] + 8] = b"garbage!"
    path.write_bytes(bytes(data))
    return path


def test_damaged_frames_are_skipped_and_counted(tmp_path):
    source = VideoFileSource(str(_png_clip_with_damaged_frames(tmp_path / "damaged.mov")))
    frames = list(source.frames())
    assert source.corrupt_frames == 2 and len(frames) == 8
    assert [round(f.pts, 2) for f in frames] == [0.0, 0.1, 0.2, 0.4, 0.5, 0.7, 0.8, 0.9]  # gaps stay gaps


def test_unreadable_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"))
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UserError, match="cannot open file"):
        open_source(str(tmp_path / "noise.mp4"))
    clip = make_clip(tmp_path / "clip.mkv", frames=2, audio=False, codec="mpeg4")
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(clip.read_bytes().replace(b"V_MPEG4/ISO/ASP", b"V_QQQQQ/QQQ/QQQ"))
    with pytest.raises(UserError, match="codec .* not supported"):
        open_source(str(unknown))


def test_realtime_playback_runs_at_the_files_own_speed(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=7, fps=12, audio=False)
    source = open_source(str(clip), realtime=True)
    started = time.monotonic()
    assert len(list(source.frames())) == 7
    assert source.live and time.monotonic() - started >= 6 / 12 - 0.02


def test_image_folder_skips_broken_images_and_keeps_names(tmp_path):
    for i, size in enumerate([(64, 48), (32, 24), (64, 48)]):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), pattern(i, *size)[..., ::-1])
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    source = open_source(str(tmp_path), fps=5)
    frames = list(source.frames())
    assert isinstance(source, ImageFolderSource) and source.corrupt_frames == 1
    assert [f.image.shape for f in frames] == [(48, 64, 3)] * 3  # all the size of the first
    assert [source.names[f.index] for f in frames] == ["img0", "img1", "img2"]
    assert [f.pts for f in frames] == [0.0, 0.2, 0.4]
    assert np.array_equal(frames[0].image, pattern(0, 64, 48))


def test_demo_is_a_moving_photo_scene_paced_like_a_camera():
    demo = open_source("demo", size=(160, 96), fps=30, realtime=True)
    assert isinstance(demo, DemoSource) and demo.live
    started = time.monotonic()
    frames = list(itertools.islice(demo.frames(), 7))
    assert time.monotonic() - started >= 6 / 30 - 0.02
    assert frames[0].image.shape == (96, 160, 3) and frames[0].image.std() > 20  # a photo, not a blank
    scene = demo.scene
    moved = np.abs(scene.render(0.0).astype(int) - scene.render(1.5).astype(int)).mean()
    assert moved > 5, "the demo scene should pan and zoom"
    recorded = open_source("demo", size=(160, 96), fps=30)  # to a file: every frame, no pacing
    assert isinstance(recorded, DemoSource) and not recorded.live
    assert len(list(itertools.islice(recorded.frames(), 5))) == 5


def test_absent_camera_is_a_one_line_user_error():
    with pytest.raises(UserError, match="could not be opened"):
        open_source("57")
    with pytest.raises(UserError, match="does not exist"):
        open_source("/dev/video57")


def test_camera_that_stops_delivering_is_reported_as_lost(tmp_path, monkeypatch):
    """OpenCV reads a clip like a camera; when it runs out, that is an unplugged camera."""
    monkeypatch.setattr(sources, "CAMERA_LOST_AFTER_S", 0.2)
    clip = make_clip(tmp_path / "cam.mp4", frames=5, audio=False)
    camera = CameraSource(str(clip), size=(80, 48))
    received = []
    with pytest.raises(SourceLost, match=r"stopped delivering frames \(unplugged\?\) after 5 frames"):
        for frame in camera.frames():
            received.append(frame)
    assert len(received) == 5 and received[0].image.shape == (48, 80, 3)
    assert np.abs(cv2.resize(pattern(0, 160, 96), (80, 48)).astype(int) - received[0].image).mean() < 10


def test_camera_reconnects_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CAMERA_LOST_AFTER_S", 0.1)
    monkeypatch.setattr(sources, "RECONNECT_EVERY_S", 0.05)
    clip = make_clip(tmp_path / "cam.mp4", frames=3, audio=False)
    camera = CameraSource(str(clip), reconnect=True)
    frames = list(itertools.islice(camera.frames(), 7))  # 3 + 3 (reopened) + 1: it came back, twice
    assert [f.index for f in frames] == list(range(7))
    assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))


@pytest.mark.parametrize("text", ["1280", "12x", "axb", "4x4", "99999x10"])
def test_bad_resolution_text_is_a_user_error(text):
    with pytest.raises(UserError):
        parse_size(text)


def test_resolution_text_parses():
    assert parse_size("1280x720") == (1280, 720)
