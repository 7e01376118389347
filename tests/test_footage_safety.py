"""Issue 11: `stylecast run` never loses or mangles the user's footage, and its exit code says what happened.

Every test drives the real command line on files it makes, and checks the decoded outputs and the
exit code. Captions are off where a test compares pixels (--strength 0 makes styling the identity).
"""
from __future__ import annotations

import errno
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import blank_media_data, decode, make_clip, pattern
from processes import Running, wait_gone
from test_run import REPO, error_lines, stylecast

REAL_CLIP = Path(os.environ.get("STYLECAST_REAL_CLIP",  # real footage the tests did not make
                                "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"))  # Debian: opencv-doc


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(*args: str, style: Path, captions: bool = False) -> subprocess.CompletedProcess:
    return stylecast(*args, "--style", str(style), *([] if captions else ["--no-captions"]))


def one_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """The run failed with exit 2 and exactly one 'stylecast: error: ...' line containing `words`."""
    assert result.returncode == 2, result.stderr
    lines = [line.split("\r")[-1] for line in error_lines(result)]
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith("stylecast: error: "), result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def model_loaded(result: subprocess.CompletedProcess) -> bool:
    return "style 'tiny' on" in result.stderr


# --- 1. never overwrite or destroy an input ------------------------------------------------------

def test_same_folder_batch_is_refused_and_the_inputs_are_untouched(tmp_path, tiny_style):
    clips = tmp_path / "clips"
    clips.mkdir()
    inputs = [make_clip(clips / "clip1.mp4", frames=4, size=(64, 48)), make_clip(clips / "clip2.mp4", frames=4,
                                                                                  size=(64, 48))]
    before = [digest(p) for p in inputs]
    result = run("--source", str(clips), "--output", str(clips), "--overwrite", style=tiny_style)
    one_error(result, "input", "clip1.mp4")
    assert not model_loaded(result)
    assert [digest(p) for p in inputs] == before
    assert sorted(p.name for p in clips.iterdir()) == ["clip1.mp4", "clip2.mp4"]


def test_an_output_that_is_a_hard_link_to_the_input_is_refused(tmp_path, tiny_style):
    source = make_clip(tmp_path / "in.mp4", frames=4, size=(64, 48))
    before = digest(source)
    os.link(source, tmp_path / "out.mp4")
    one_error(run("--source", str(source), "--output", str(tmp_path / "out.mp4"), "--overwrite", style=tiny_style),
              "input")
    assert digest(source) == before and len(decode(source).frames) == 4


def test_batch_names_that_collide_each_get_their_own_output(tmp_path, tiny_style):
    """clip.mp4, clip.avi (MPEG-4 Part 2 + AC3) and clip.ts (H.264 + AAC) would all become clip.mp4."""
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "clip.mp4", frames=6, size=(64, 48), audio=False)
    make_clip(folder / "clip.avi", frames=5, size=(64, 48), codec="mpeg4", audio_codec="ac3", sample_rate=48000)
    make_clip(folder / "clip.ts", frames=15, size=(64, 48))
    result = run("--source", str(folder), "--output", str(tmp_path / "out"), style=tiny_style)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.avi.mp4", "clip.mp4", "clip.ts.mp4"]
    assert len(decode(tmp_path / "out" / "clip.mp4").frames) == 6
    for name, frames in (("clip.avi.mp4", 5), ("clip.ts.mp4", 15)):
        out = decode(tmp_path / "out" / name)
        assert len(out.frames) == frames and out.audio_seconds == pytest.approx(frames / 12, abs=0.1), name
        assert np.allclose(out.pts, np.arange(frames) / 12, atol=1e-3), (name, out.pts)  # no frame shifted


def test_existing_outputs_and_subtitles_are_kept_unless_overwrite(tmp_path, tiny_style):
    source = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 48))
    (tmp_path / "out.srt").write_text("my own subtitles\n")
    args = ("--source", str(source), "--output", str(tmp_path / "out.mp4"))
    result = run(*args, style=tiny_style, captions=True)
    one_error(result, "out.srt", "--overwrite")
    assert not model_loaded(result) and not (tmp_path / "out.mp4").exists()
    assert (tmp_path / "out.srt").read_text() == "my own subtitles\n"

    assert run(*args, "--overwrite", style=tiny_style, captions=True).returncode == 0
    assert len(decode(tmp_path / "out.mp4").frames) == 6
    assert not list(tmp_path.glob("*partial*")), "the temporary name is gone once the recording is complete"
    again = run(*args, "--overwrite", style=tiny_style)  # no captions now: the old subtitles stay, but are flagged
    assert again.returncode == 0 and "subtitles from an earlier run" in again.stderr, again.stderr
    assert (tmp_path / "out.srt").exists()
    one_error(run(*args, style=tiny_style), "out.mp4 already exists")


# --- 2. keep what the picture looks like ---------------------------------------------------------

def test_a_rotation_tagged_phone_clip_comes_out_upright(tmp_path, tiny_style):
    source = make_clip(tmp_path / "portrait.mp4", frames=4, size=(64, 48), rotation=-90)  # shown 48x64
    result = run("--source", str(source), "--output", str(tmp_path / "out.mp4"), "--strength", "0",
                 style=tiny_style)
    assert result.returncode == 0, result.stderr
    out = decode(tmp_path / "out.mp4")
    assert out.frames[0].shape == (64, 48, 3)
    expected = np.rot90(pattern(0, 64, 48), -1)  # -90 = a quarter turn clockwise
    assert np.abs(out.frames[0].astype(int) - expected).mean() < 8


def test_a_photo_folder_keeps_each_photos_size_and_aspect(tmp_path, tiny_style):
    photos = tmp_path / "photos"
    photos.mkdir()
    sizes = {"a": (33, 25), "b": (50, 50), "c": (20, 40)}  # width, height; the first is odd-sized
    for name, (width, height) in sizes.items():
        cv2.imwrite(str(photos / f"{name}.png"), pattern(1, width, height)[..., ::-1])

    result = run("--source", str(photos), "--output", str(tmp_path / "styled"), "--strength", "0",
                 style=tiny_style)
    assert result.returncode == 0, result.stderr
    for name, (width, height) in sizes.items():
        styled = cv2.imread(str(tmp_path / "styled" / f"{name}.png"))[..., ::-1]
        assert np.array_equal(styled, pattern(1, width, height)), name  # same size, same pixels

    result = run("--source", str(photos), "--output", str(tmp_path / "slides.mp4"), "--strength", "0",
                 style=tiny_style)
    assert result.returncode == 0, result.stderr
    assert "33x25 is rounded up to 34x26" in result.stderr
    slides = decode(tmp_path / "slides.mp4").frames
    assert len(slides) == 3 and all(frame.shape == (26, 34, 3) for frame in slides)
    square = slides[1][:25, :33].astype(int)
    assert square[:, :3].mean() < 20 and square[:, -3:].mean() < 20  # bars beside the square photo
    assert square[:, 8:25].mean() > 60  # ... which is not stretched over the whole frame


# --- 4. a run that made nothing fails ------------------------------------------------------------

def test_a_file_whose_every_packet_is_damaged_fails_and_leaves_nothing(tmp_path, tiny_style):
    source = blank_media_data(make_clip(tmp_path / "broken.mp4", frames=6, size=(64, 48)))
    result = run("--source", str(source), "--output", str(tmp_path / "out.mp4"), style=tiny_style, captions=True)
    one_error(result, "nothing was written", "damaged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]  # no video, no empty .srt/.vtt


@pytest.mark.parametrize("option, value", [("--fps", "0"), ("--max-frames", "0"), ("--duration", "-1"),
                                           ("--fps", "nan")])
def test_values_that_would_make_nothing_are_refused_up_front(tmp_path, tiny_style, option, value):
    result = run("--source", "demo", "--headless", "--output", str(tmp_path / "out.mp4"), option, value,
                 style=tiny_style)
    one_error(result, option)
    assert not model_loaded(result) and not list(tmp_path.iterdir())


def test_a_read_error_is_reported_on_its_own_line_with_how_far_it_got(tmp_path, tiny_style):
    source = make_clip(tmp_path / "in.mkv", frames=48, size=(64, 48), audio=False)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])  # cut off mid-file, like an interrupted copy
    result = run("--source", str(source), "--output", str(tmp_path / "out.mkv"), style=tiny_style)
    lines = [line.split("\r")[-1] for line in result.stderr.split("\n")]
    warning = [line for line in lines if line.startswith("stylecast: warning: ")]
    assert warning and " of 4.0 s" in warning[0] and "cut short" in warning[0], result.stderr
    assert 0 < len(decode(tmp_path / "out.mkv").frames) < 48


class NoRangeHandler(http.server.SimpleHTTPRequestHandler):
    """Python's file server: it ignores Range headers, like many simple servers."""

    def log_message(self, *args) -> None:
        pass


def test_an_http_file_whose_index_is_at_the_end_on_a_server_without_ranges(tmp_path, tiny_style):
    (tmp_path / "site").mkdir()
    source = make_clip(tmp_path / "site" / "clip.mp4", frames=12, size=(64, 48))  # mp4 'moov' index written last
    assert source.read_bytes().rfind(b"moov") > source.read_bytes().find(b"mdat")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             lambda *a: NoRangeHandler(*a, directory=str(tmp_path / "site")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
        result = run("--source", url, "--output", str(tmp_path / "out.mp4"), style=tiny_style)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    out = decode(tmp_path / "out.mp4")
    assert len(out.frames) == 12 and out.audio_seconds == pytest.approx(1.0, abs=0.1)


# --- 5. common containers and codecs work, or fail before work starts ----------------------------

def test_aac_audio_goes_into_webm_re_encoded(tmp_path, tiny_style):
    source = make_clip(tmp_path / "in.mp4", frames=12, size=(64, 48))
    result = run("--source", str(source), "--output", str(tmp_path / "out.webm"), style=tiny_style)
    assert result.returncode == 0, result.stderr
    out = decode(tmp_path / "out.webm")
    assert len(out.frames) == 12 and out.audio_seconds == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("codec, says", [("libx264", "WebM takes"), ("h264_nvenc", "h264_nvenc")])
def test_codecs_that_cannot_work_fail_before_the_model_loads(tmp_path, tiny_style, codec, says):
    from realtime.recorder import encoder_opens

    if codec == "h264_nvenc" and encoder_opens(codec) is None:
        pytest.skip("this machine has a working NVENC")
    source = make_clip(tmp_path / "in.mp4", frames=4, size=(64, 48))
    result = run("--source", str(source), "--output", str(tmp_path / "out.webm"), "--codec", codec, style=tiny_style)
    one_error(result, says)
    assert not model_loaded(result) and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng is not installed")
def test_speak_into_webm(tmp_path, tiny_style):
    source = make_clip(tmp_path / "in.mp4", frames=24, size=(64, 48))
    result = run("--source", str(source), "--output", str(tmp_path / "out.webm"), "--speak", "--caption-every", "1",
                 style=tiny_style, captions=True)
    assert result.returncode == 0, result.stderr
    out = decode(tmp_path / "out.webm")
    assert len(out.frames) == 24 and out.audio_seconds >= 1.9


@pytest.mark.skipif(not REAL_CLIP.exists(), reason="real footage: apt-get install opencv-doc, or STYLECAST_REAL_CLIP=Megamind.avi")
def test_a_real_recorded_avi_with_ac3_audio_styles_end_to_end(tmp_path, tiny_style):
    """MPEG-4 Part 2 video + AC3 audio, 720x528, 270 frames: this file crashed FFmpeg when copied into MP4."""
    result = run("--source", str(REAL_CLIP), "--output", str(tmp_path / "out.mp4"), style=tiny_style)
    assert result.returncode == 0, result.stderr
    original, styled = decode(REAL_CLIP), decode(tmp_path / "out.mp4")
    assert len(styled.frames) == len(original.frames) and styled.frames[0].shape == original.frames[0].shape
    assert styled.duration == pytest.approx(original.duration, abs=0.1)
    assert styled.audio_seconds == pytest.approx(original.audio_seconds, abs=0.1)
    # every frame at its time (AVI pts are in decode order, hence sorted; the first is shown from 0)
    assert np.allclose(sorted(original.pts)[1:], styled.pts[1:], atol=1e-3)


# --- 6. stopping never leaks ---------------------------------------------------------------------

def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def playable_frames(path: Path) -> int:
    """How many video frames of a recording that is still being written decode now (its last, unfinished
    fragment and a file not there yet count nothing)."""
    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except (av.FFmpegError, OSError):
        pass
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_run_leaves_a_playable_file_and_no_helper_process(tmp_path, tiny_style, stop):
    """The signal comes while the paced run is writing (its clip's last frame is an hour in, so it cannot
    end first): after the program reported frames written, and for kill -9 once the .partial file plays."""
    source = make_clip(tmp_path / "long.mp4", frames=200, size=(64, 48), fps=10, last_frame_at=3600)
    output = tmp_path / "cut.mp4"
    partial = tmp_path / "cut.partial.mp4"
    run = Running("run", "--source", str(source), "--output", str(output), "--style", str(tiny_style),
                  "--realtime", "--progress", "lines")
    try:
        reported = run.frames_written(at_least=3)
        helpers = children_of(run.pid)  # the captioner's helper starts before the first frame
        assert helpers, "the captioner's helper process should be running"
        while stop == signal.SIGKILL and playable_frames(partial) < 3:  # on disk, for kill -9 to leave
            reported = run.frames_written(at_least=reported + 1)  # look again at the next progress line
        run.process.send_signal(stop)
        code, _, err = run.finish()
    finally:
        run.kill()
    assert not wait_gone(helpers), "helper processes outlived the run"
    if stop == signal.SIGTERM:
        assert code == 143, err
        assert len(decode(output).frames) >= reported and not partial.exists()
    else:
        assert len(decode(partial).frames) >= 3  # kill -9: the .partial file plays up to there


# --- 7. bad input is a one-line error, never a crash or an escape --------------------------------

def test_an_unwritable_output_is_found_before_the_model_loads(tmp_path, tiny_style):
    (tmp_path / "afile").write_text("x")
    source = make_clip(tmp_path / "in.mp4", frames=4, size=(64, 48))
    result = run("--source", str(source), "--output", str(tmp_path / "afile" / "out.mp4"), style=tiny_style)
    one_error(result, "not a folder")
    assert not model_loaded(result)


def test_a_style_name_that_escapes_its_folder_is_refused(tmp_path):
    out = tmp_path / "a" / "b"
    result = subprocess.run([sys.executable, str(REPO / "stream.py"), "train", "--style", "x.png",
                             "--name", "../../evil", "--out", str(out), "--work-dir", str(out / "run")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    one_error(result, "--name", "plain name")
    assert not list(tmp_path.rglob("*evil*"))


def test_a_full_disk_is_one_line_in_the_programs_words(monkeypatch, capsys):
    import realtime.run
    import stream

    def fill_the_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "out.mp4")

    monkeypatch.setattr(realtime.run, "run_command", fill_the_disk)
    assert stream.main(["run", "--output", "out.mp4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disk is full while writing out.mp4" in err
