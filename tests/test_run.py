"""`stream.py run` end to end, through the real command line, on clips the tests generate."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import decode, make_clip
from processes import Running

REPO = Path(__file__).resolve().parents[1]


def stylecast(*args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stream.py"), "run", *args], capture_output=True, text=True,
                          timeout=240, cwd=REPO, **popen)  # (a safety net: minutes on a busy machine)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_styling_a_file_keeps_frames_duration_and_audio(tmp_path, tiny_style):
    source = make_clip(tmp_path / "in.mp4", frames=18, fps=12)
    result = stylecast("--source", str(source), "--output", str(tmp_path / "out.mp4"), "--style", str(tiny_style))
    assert result.returncode == 0, result.stderr
    assert "18 frames written" in result.stdout and "0 dropped" in result.stdout

    original, styled = decode(source), decode(tmp_path / "out.mp4")
    assert abs(len(styled.frames) - len(original.frames)) <= 1
    assert abs(styled.duration - original.duration) <= original.frame_interval + 1e-6
    assert np.allclose(styled.pts[: len(original.pts)], original.pts[: len(styled.pts)], atol=1e-3)
    assert styled.audio_seconds is not None, "the input's audio track was not copied"
    assert abs(styled.audio_seconds - original.audio_seconds) <= original.frame_interval
    differences = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(original.frames, styled.frames)]
    assert min(differences) > 10, f"frames look unstyled (mean abs difference {min(differences):.1f})"


def test_interrupted_recording_still_plays(tmp_path, tiny_style):
    """SIGINT in the middle of a paced (--realtime) run: exit 130, and a playable file up to that point.

    The clip's last frame comes an hour in, so the paced run cannot end before the signal however slow
    the machine; the signal goes once the program reports 5 frames written (--progress lines)."""
    source = make_clip(tmp_path / "long.mp4", frames=200, fps=10, size=(64, 48), last_frame_at=3600,
                       audio_seconds=30)  # the tone outlasts every frame a cut can keep: it must be cut too
    output = tmp_path / "cut.mp4"
    run = Running("run", "--source", str(source), "--output", str(output), "--style", str(tiny_style),
                  "--realtime", "--progress", "lines")
    try:
        reported = run.frames_written(at_least=5)
        run.process.send_signal(signal.SIGINT)
        code, out, err = run.finish()
    finally:
        run.kill()
    assert code == 130, err

    cut = decode(output)
    assert not (tmp_path / "cut.partial.mp4").exists(), "the stopped recording is renamed to its final name"
    assert len(cut.frames) >= reported, f"{reported} frames were written before the signal, {len(cut.frames)} kept"
    assert f"{len(cut.frames)} frames written" in out
    assert cut.pts[-1] < 20, "the frame an hour in was never reached"
    # --realtime may drop a late frame, so compare the audio with the video's time span, not its frame count
    assert cut.audio_seconds is not None and cut.pts[-1] <= cut.audio_seconds <= cut.pts[-1] + 0.1 + 0.2


def test_demo_source_runs_headless_and_writes_a_file(tmp_path, tiny_style):
    output = tmp_path / "demo.mkv"
    result = stylecast("--source", "demo", "--headless", "--max-frames", "8", "--resolution", "160x96",
                       "--fps", "15", "--output", str(output), "--style", str(tiny_style))
    assert result.returncode == 0, result.stderr
    demo = decode(output)
    assert 1 <= len(demo.frames) <= 8 and demo.frames[0].shape == (96, 160, 3)
    assert demo.audio_seconds is None
    assert np.all(np.diff(demo.pts) > 0), "timestamps must increase"


def test_a_folder_of_videos_is_styled_into_a_folder(tmp_path, tiny_style):
    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "a.mp4", frames=6, fps=12, audio=False)
    make_clip(tmp_path / "in" / "b.mkv", frames=9, fps=12)
    result = stylecast("--source", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                       "--style", str(tiny_style))
    assert result.returncode == 0, result.stderr
    assert len(decode(tmp_path / "out" / "a.mp4").frames) == 6
    assert len(decode(tmp_path / "out" / "b.mkv").frames) == 9
    assert decode(tmp_path / "out" / "b.mkv").audio_seconds is not None


@pytest.mark.parametrize("problem", ["missing file", "corrupt file", "unsupported codec", "absent camera"])
def test_user_mistakes_exit_2_with_one_line(tmp_path, tiny_style, problem):
    source, extra = tmp_path / "in.mp4", []
    if problem == "corrupt file":
        source.write_bytes(os.urandom(4096))
    elif problem == "unsupported codec":
        make_clip(source, frames=2, audio=False)
        extra = ["--codec", "nosuchcodec"]
    elif problem == "absent camera":
        source = "57"
    result = stylecast("--source", str(source), "--output", str(tmp_path / "out.mp4"),
                       "--style", str(tiny_style), *extra)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("stylecast: error: "), result.stderr
    if problem == "unsupported codec":
        assert "nosuchcodec" in lines[0]
    assert not (tmp_path / "out.mp4").exists()


def test_an_image_folder_is_styled_into_images_with_the_same_names(tmp_path, tiny_style):
    import cv2
    from clips import pattern

    import stream

    (tmp_path / "photos").mkdir()
    for name in ("beach", "city"):
        cv2.imwrite(str(tmp_path / "photos" / f"{name}.png"), pattern(3, 64, 48))
    code = stream.main(["run", "--source", str(tmp_path / "photos"), "--output", str(tmp_path / "styled"),
                        "--style", str(tiny_style), "--headless"])
    assert code == 0
    styled = cv2.imread(str(tmp_path / "styled" / "city.png"))[..., ::-1]
    assert sorted(p.name for p in (tmp_path / "styled").iterdir()) == ["beach.png", "city.png"]
    assert styled.shape == (48, 64, 3) and np.abs(styled.astype(int) - pattern(3, 64, 48)).mean() > 10
