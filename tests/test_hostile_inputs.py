"""Issue 19: the hostile-input holes a probe run found, each through the entry point a user would use."""
from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from clips import decode, make_clip
from PIL import Image
from test_run import REPO, error_lines, stylecast
from test_sinks import FilledDisk

from tests.training_data import TINY_ARCHITECTURE, write_content_folder, write_style_image


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stream.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def one_error_line(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("stylecast: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_refuses_a_port_that_is_not_a_port(port):
    one_error_line(cli("serve", "--port", port), f"--port {port}", "0-65535")


# --- training: NaN and infinity never reach the weights ----------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_train_refuses_a_loss_weight_that_is_not_a_finite_number(tmp_path, value):
    result = cli("train", "--style", str(write_style_image(tmp_path / "s.png")), "--name", "x", "--steps", "2",
                 "--size", "32", "--out", str(tmp_path / "styles"), "--work-dir", str(tmp_path / "run"),
                 "--style-weight", value)
    one_error_line(result, "--style-weight", "finite")
    assert not (tmp_path / "styles").exists() and not (tmp_path / "run").exists()


def test_a_loss_that_turns_nan_stops_training_and_keeps_the_last_good_state(tmp_path, monkeypatch):
    from common.errors import UserError
    from training import losses
    from training import train as train_module
    from training.train import TrainConfig, read_state, train

    torch.set_num_threads(1)
    config = TrainConfig(style=str(write_style_image(tmp_path / "s.png")),
                         content=str(write_content_folder(tmp_path / "content")), name="x", steps=20, size=32,
                         batch=2, architecture=TINY_ARCHITECTURE, out=str(tmp_path / "styles"),
                         work_dir=str(tmp_path / "run"), save_every=5, progress=False, threads=1, features="random")
    calls = {"n": 0}
    total_variation = losses.total_variation

    def turns_nan_at_step_8(image):
        calls["n"] += 1
        value = total_variation(image)
        return value * float("nan") if calls["n"] >= 8 else value

    monkeypatch.setattr(train_module.losses, "total_variation", turns_nan_at_step_8)
    with pytest.raises(UserError) as caught:
        train(config)
    message = str(caught.value)
    assert "step 8" in message and "tv loss is nan" in message and "step 5" in message and "--resume" in message
    assert "\n" not in message
    state = read_state(tmp_path / "run")
    assert state["step"] == 5  # the periodic save before the bad step; the bad step wrote nothing
    assert all(torch.isfinite(v).all() for v in state["generator"].values())
    assert not (tmp_path / "styles" / "x.safetensors").exists()

    monkeypatch.setattr(train_module.losses, "total_variation", total_variation)
    path = train(config, resume=True)
    assert path.is_file()  # the kept state resumes to a finished style


# --- animated WebP -----------------------------------------------------------------------------------

def test_an_animated_webp_is_styled_frame_by_frame_at_its_own_timing(tmp_path, tiny_style):
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    durations = [100, 100, 250, 50, 100]  # ms, uneven on purpose
    source = tmp_path / "anim.webp"
    Image.fromarray(pictures[0]).save(source, save_all=True, lossless=True, duration=durations, loop=0,
                                      append_images=[Image.fromarray(p) for p in pictures[1:]])
    result = stylecast("--source", str(source), "--output", str(tmp_path / "out.mp4"), "--style", str(tiny_style),
                       "--no-captions")
    assert result.returncode == 0, result.stderr
    assert "5 frames written" in result.stdout
    out = decode(tmp_path / "out.mp4")
    assert len(out.frames) == 5
    assert np.allclose(out.pts, np.cumsum([0] + durations[:-1]) / 1000, atol=2e-3)
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() > 10 for a, b in zip(out.frames, pictures))
    # each output frame follows its own input frame (the first one is not repeated)
    first_diff = np.abs(out.frames[1].astype(int) - out.frames[0].astype(int)).mean()
    assert first_diff > 5


# --- subtitles follow the video --------------------------------------------------------------------

def test_a_run_that_fails_on_a_full_disk_leaves_nothing_that_blocks_the_rerun(tmp_path, tiny_style, monkeypatch,
                                                                                capsys):
    import stream
    from realtime import recorder

    source = make_clip(tmp_path / "in.mp4", frames=24, size=(64, 48))
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    args = ["run", "--source", str(source), "--output", str(out), "--style", str(tiny_style), "--headless"]

    def full_disk(self):  # FileSink._open_file on a disk with no room left
        self._writing_to = recorder.partial_path(self.path)
        return FilledDisk(self._writing_to, 0)

    monkeypatch.setattr(recorder.FileSink, "_open_file", full_disk)
    assert stream.main(args) == 2
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == []  # no video, no .srt/.vtt, no .partial files

    monkeypatch.undo()
    assert stream.main(args) == 0, capsys.readouterr().err  # the rerun is not refused
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.mp4", "o.srt", "o.vtt"]
    assert "-->" in (out.parent / "o.srt").read_text(encoding="utf-8")


# --- an input that ends early: the output is kept, the exit code says so -------------------------------

def cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_cut_short_input_keeps_its_output_and_exits_3(tmp_path, tiny_style):
    source = cut_in_half(make_clip(tmp_path / "in.mkv", frames=48, size=(64, 48), audio=False))
    result = stylecast("--source", str(source), "--output", str(tmp_path / "out.mkv"), "--style", str(tiny_style),
                       "--no-captions")
    assert result.returncode == 3, result.stderr
    last = [line.split("\r")[-1] for line in error_lines(result)][-1]
    assert last.startswith("stylecast: warning: ") and "exit code 3" in last, result.stderr
    assert 0 < len(decode(tmp_path / "out.mkv").frames) < 48


def test_a_batch_with_one_cut_short_video_writes_both_and_exits_3(tmp_path, tiny_style):
    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "good.mkv", frames=12, size=(64, 48), audio=False)
    cut_in_half(make_clip(tmp_path / "in" / "cut.mkv", frames=48, size=(64, 48), audio=False))
    result = stylecast("--source", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--style",
                       str(tiny_style), "--no-captions")
    assert result.returncode == 3, result.stderr
    assert "cut.mkv ended early" in result.stderr and "good.mkv ended early" not in result.stderr
    assert len(decode(tmp_path / "out" / "good.mkv").frames) == 12
    assert 0 < len(decode(tmp_path / "out" / "cut.mkv").frames) < 48
