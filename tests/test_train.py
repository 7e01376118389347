"""Training end to end on CPU: losses go down, the style loads and stylizes other sizes, resume, DDP."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from common.errors import UserError
from tests.training_data import TINY_ARCHITECTURE, write_content_folder, write_style_image
from training import train as train_module
from training.checkpoint import load_style
from training.train import STATE_FILE, TrainConfig, read_state, train


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: one thread is faster than two fighting over shared cores, and leaves a core to others."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(tmp_path: Path, **overrides) -> TrainConfig:
    values = dict(style=str(write_style_image(tmp_path / "stripes.png")),
                  content=str(write_content_folder(tmp_path / "content")), name="stripes", steps=100, size=40,
                  batch=2, architecture=TINY_ARCHITECTURE, out=str(tmp_path / "styles"),
                  work_dir=str(tmp_path / "run"), save_every=50, sample_every=50, progress=False, gan_start=0.5,
                  threads=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_training_lowers_the_losses_and_writes_a_loadable_style(tmp_path, monkeypatch):
    history: list[dict[str, float]] = []
    original_step = train_module.StyleTrainer.step
    monkeypatch.setattr(train_module.StyleTrainer, "step",
                        lambda self, batch: history.append(original_step(self, batch)) or history[-1])
    torch.manual_seed(0)
    path = train(_config(tmp_path))

    first, last = history[:10], history[-10:]
    for term in ("style", "total"):  # content rises from ~0 as the output moves away from the photo, by design
        assert np.mean([h[term] for h in last]) < 0.7 * np.mean([h[term] for h in first]), term
    assert "adversarial" in history[-1] and "discriminator" in history[-1]  # the GAN ran in the second half

    model, info = load_style(path)
    assert info.name == "stripes" and TINY_ARCHITECTURE.items() <= info.architecture.items()
    assert info.preview_path is not None and info.preview_path.is_file()
    assert info.training["steps_done"] == 100
    assert (tmp_path / "run" / "tensorboard").is_dir()
    photo = torch.rand(1, 3, 37, 70)  # not the training size, not a multiple of 8
    with torch.no_grad():
        styled = model(photo)
    assert styled.shape == photo.shape
    assert (styled - photo).abs().mean() > 0.05  # it changed the picture


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    config = _config(tmp_path, steps=30, save_every=10)
    original_step = train_module.StyleTrainer.step

    def interrupt_at_17(self, batch):
        if self.step_index == 17:
            raise KeyboardInterrupt
        return original_step(self, batch)

    monkeypatch.setattr(train_module.StyleTrainer, "step", interrupt_at_17)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    saved = read_state(Path(config.work_dir))
    assert saved["step"] == 17  # the Ctrl-C handler saved the latest step, not the last periodic one

    monkeypatch.setattr(train_module.StyleTrainer, "step", original_step)
    with pytest.raises(UserError, match="--resume"):
        train(config)  # starting again without --resume must not clobber the run

    resumed_at: list[int] = []
    original_load = train_module.StyleTrainer.load_state
    monkeypatch.setattr(train_module.StyleTrainer, "load_state",
                        lambda self, state: (original_load(self, state), resumed_at.append(self.step_index)))
    path = train(TrainConfig(style="ignored", name="stripes", steps=0, work_dir=config.work_dir,
                             progress=False), resume=True)
    assert resumed_at == [17]
    assert read_state(Path(config.work_dir))["step"] == 30
    assert load_style(path)[1].training["steps_done"] == 30


def test_resume_errors_are_one_clear_line(tmp_path):
    config = _config(tmp_path)
    with pytest.raises(UserError, match="nothing to resume"):
        train(config, resume=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / STATE_FILE).write_bytes(b"garbage")
    with pytest.raises(UserError, match="damaged"):
        train(config, resume=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, config: TrainConfig, result_dir: str) -> None:
    """What torchrun does per process: set the rendezvous environment, then run the same training."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainers = []
    original = train_module.StyleTrainer.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        trainers.append(self)

    train_module.StyleTrainer.__init__ = keep
    train(config)
    generator = train_module._unwrap(trainers[0].generator)
    torch.save(generator.state_dict(), Path(result_dir) / f"rank{rank}.pt")


@pytest.mark.skipif(sys.platform == "win32", reason="gloo rendezvous test written for POSIX")
def test_ddp_two_processes_on_gloo_keep_identical_weights(tmp_path):
    config = _config(tmp_path, steps=6, gan_start=0.5, save_every=100)
    mp.spawn(_ddp_worker, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key  # gradients were all-reduced every step
    model, info = load_style(Path(config.out) / "stripes.safetensors")
    assert info.training["steps_done"] == 6
    assert all(torch.equal(model.state_dict()[k], rank0[k]) for k in rank0)
