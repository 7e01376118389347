"""Train one style: the loop behind `stream.py train`.

One step (all images Bx3xSxS in [0, 1]):
1. Crop a content batch; the "next frame" is the same picture moved by a smooth random flow, noised and
   brightness-jittered (CameraMotion). Both go through the generator in ONE forward (DDP wants one
   forward per backward).
2. Generator loss = content + style (Gram) + colour (sliced Wasserstein to the style's palette) + TV
   + temporal (next-frame output == moved clean output) + adversarial (multi-scale PatchGAN, from
   `gan_start` on). Output and input are shifted by the same random 0-15 px before the loss network,
   so the network cannot satisfy its fixed stride-8 grid with a fixed 2-8 px pattern.
3. Discriminator step: style-image crops are real, generator outputs are fake (hinge or LSGAN).

Resume state (`runs/NAME/state.pt`: weights, optimisers, step) is written every `save_every` steps and on
Ctrl-C, atomically, and read with torch.load(weights_only=True). The finished style goes through
`training.checkpoint.save_style` with a preview JPEG beside it.
Multi-GPU: run under `torchrun --nproc_per_node N stream.py train ...` (DDP; gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import copy
import contextlib
import logging
import os
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from common.errors import UserError
from common.threads import decide_threads, set_torch_threads
from styles import STYLES_DIR
from training import losses
from training.checkpoint import save_style
from training.data import RandomCrops, load_images, skimage_photo_paths, read_image, to_image, to_tensor
from training.features import build_feature_network
from training.losses import CameraMotion, LossWeights
from training.model import PatchDiscriminator, StyleNetwork

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
PREVIEW_SIZE = 384  # px, long side of the preview JPEG


@dataclass
class TrainConfig:
    """Everything a run needs; saved in the resume state and (as `training`) in the style's JSON."""

    style: str
    name: str
    content: str | None = None
    steps: int = 2000
    size: int = 256
    style_size: int | None = None  # px, short side the style image is scaled to; default 1.5 x size
    batch: int = 4
    device: str = "cpu"
    lr: float = 1e-3
    lr_discriminator: float = 2e-4
    gan: str = "hinge"  # or "lsgan"
    gan_start: float = 0.5  # fraction of the steps before the adversarial term switches on
    max_shift: int = 10  # px, largest global camera shift of the synthetic next frame
    loss_shift: int = 15  # px, largest random offset of output and input before the loss network
    weights: LossWeights = field(default_factory=LossWeights)
    architecture: dict[str, Any] = field(default_factory=dict)  # StyleNetwork kwargs; {} = defaults
    init: str | None = None  # a style (name or .safetensors) whose weights the generator starts from
    features: str = "mobilenet"  # loss network: mobilenet (pretrained), vgg19 (local file), random
    vgg_weights: str | None = None
    threads: int = 0  # torch CPU threads; 0 = the idle cores (see common.threads)
    out: str = str(STYLES_DIR)
    work_dir: str | None = None  # default runs/NAME
    save_every: int = 200
    log_every: int = 10
    sample_every: int = 200
    seed: int = 0
    description: str = ""
    progress: bool = True
    calibrate_colour: bool = False  # move the finished network's mean colour to the style's (training/calibration.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        values = dict(values)
        values["weights"] = LossWeights(**values.get("weights", {}))
        return cls(**values)

    @property
    def run_dir(self) -> Path:
        return Path(self.work_dir or Path("runs") / self.name)


# --- distributed ------------------------------------------------------------------------------------

@dataclass
class Distributed:
    """Rank/world size from torchrun's environment; world 1 when not launched by torchrun."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, device: torch.device) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def stop(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


# --- the trainer ------------------------------------------------------------------------------------

class StyleTrainer:
    """Owns the networks, optimisers and style targets; `step(batch)` does one G and one D update."""

    def __init__(self, config: TrainConfig, style_images: list[np.ndarray], device: torch.device,
                 distributed: Distributed):
        self.config = config
        self.device = device
        self.world = distributed.world
        self.amp = device.type == "cuda"  # FP16 autocast + loss scaling; CPU stays FP32
        self.generator: nn.Module = _initial_generator(config).to(device)
        self.discriminator: nn.Module = PatchDiscriminator().to(device)
        if distributed.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.generator = DistributedDataParallel(self.generator, device_ids=ids)
            self.discriminator = DistributedDataParallel(self.discriminator, device_ids=ids)
        self.features = build_feature_network(config.features, config.vgg_weights).to(device)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_discriminator,
                                            betas=(0.5, 0.999))
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        style_size = config.style_size or int(config.size * 1.5)
        scaled = [_scale_short_side(image, style_size) for image in style_images]
        self.target_grams = style_grams(self.features, scaled, device)
        self.palette = _palette(scaled).to(device)
        self.style_crops = RandomCrops(scaled, config.size, seed=config.seed + 1000 + distributed.rank,
                                       min_fraction=0.8 * config.size / style_size)
        self.step_index = 0
        self.seconds = 0.0  # wall time spent in training steps, over all resumes
        self.saved_step: int | None = None  # step of the resume state on disk (None: nothing saved yet)

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def step(self, content: torch.Tensor) -> dict[str, float]:
        """One generator + discriminator update. `content`: Bx3xSxS in [0, 1]."""
        c, w = self.config, self.config.weights
        use_gan = self.step_index >= int(c.gan_start * c.steps) and w.adversarial > 0
        with self._autocast():
            output, terms = style_terms(self.generator, content, self.features, self.target_grams, self.palette, c)
            if use_gan:
                discriminator = _unwrap(self.discriminator)
                discriminator.requires_grad_(False)  # G step: no D gradients, and no DDP sync for D
                terms["adversarial"] = losses.generator_adversarial_loss(discriminator(output), c.gan)
                discriminator.requires_grad_(True)
            g_loss = sum(getattr(w, name) * value for name, value in terms.items())
        check_finite({**terms, "total": g_loss}, self.step_index + 1, self.world)  # before the update
        self.g_optimizer.zero_grad(set_to_none=True)
        self.g_scaler.scale(g_loss).backward()
        self.g_scaler.step(self.g_optimizer)
        self.g_scaler.update()

        values = {name: float(value.detach()) for name, value in terms.items()}
        values["total"] = float(g_loss.detach())
        if use_gan:
            values["discriminator"] = self._discriminator_step(output.detach())
        self.step_index += 1
        return values

    def _discriminator_step(self, fake: torch.Tensor) -> float:
        real = self.style_crops.batch(fake.shape[0]).to(self.device)
        with self._autocast():
            logits = self.discriminator(torch.cat([real, fake]))  # one forward: DDP-friendly
            real_logits = [l[: len(real)] for l in logits]
            fake_logits = [l[len(real):] for l in logits]
            d_loss = losses.discriminator_loss(real_logits, fake_logits, self.config.gan)
        check_finite({"discriminator": d_loss}, self.step_index + 1, self.world)
        self.d_optimizer.zero_grad(set_to_none=True)
        self.d_scaler.scale(d_loss).backward()
        self.d_scaler.step(self.d_optimizer)
        self.d_scaler.update()
        return float(d_loss.detach())

    # resume state: plain tensors, dicts, numbers and strings only, so torch.load(weights_only=True) reads it
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step_index,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "generator": _unwrap(self.generator).state_dict(),
            "discriminator": _unwrap(self.discriminator).state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        _unwrap(self.generator).load_state_dict(state["generator"])
        _unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.step_index = self.saved_step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))

    @torch.no_grad()
    def sample_outputs(self, batch: torch.Tensor) -> torch.Tensor:
        """The generator's outputs for up to 4 crops, for the TensorBoard sample grid."""
        generator = _unwrap(self.generator)
        generator.eval()
        output = generator(batch[:4]).float().clamp(0, 1)
        generator.train()
        return output


class NonFiniteLoss(UserError):
    """A loss became NaN or infinite: one more update would write NaN into the weights."""


def check_finite(terms: dict[str, torch.Tensor], step: int, world: int = 1) -> None:
    """Raise NonFiniteLoss naming the first term that is not a finite number. Under DDP every process
    stops together (one rank leaving while the others wait in backward's all-reduce would hang them)."""
    values = torch.stack([value.detach().float().reshape(()) for value in terms.values()])
    finite = torch.isfinite(values).all().float()
    if world > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if not bool(finite):
        name, value = next(((n, float(v)) for n, v in zip(terms, values) if not torch.isfinite(v)),
                           ("other process's", float("nan")))
        raise NonFiniteLoss(f"training stopped at step {step}: the {name} loss is {value} (not a finite number)")


@torch.no_grad()
def style_grams(features: nn.Module, images: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """Mean Gram matrix per style layer over the style image(s), each 1xCxC."""
    per_image = [[losses.gram_matrix(f) for f in features(to_tensor(image).to(device))["style"]] for image in images]
    return [torch.stack(layer).mean(0) for layer in zip(*per_image)]


def style_terms(generator: Callable[[torch.Tensor], torch.Tensor], clean: torch.Tensor, features: nn.Module,
                target_grams: list[torch.Tensor], palette: torch.Tensor,
                config: TrainConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The generator's output for `clean` (Bx3xSxS) and its loss terms (content, style, colour, TV, temporal).

    The "next frame" is the same picture moved by a smooth random flow (CameraMotion); both go through the
    generator in ONE forward (DDP wants one forward per backward). Output and input are shifted by the same
    random 0-15 px before the loss network, so a fixed 2-8 px pattern cannot satisfy it."""
    motion = CameraMotion.random(clean.shape[0], clean.shape[-1], max_shift=config.max_shift, device=clean.device)
    moved = motion.next_frame(clean)
    dy, dx = (random.randint(0, config.loss_shift) for _ in range(2))
    output, moved_output = generator(torch.cat([clean, moved])).chunk(2)
    out_features = features(output[..., dy:, dx:])
    with torch.no_grad():
        in_features = features(clean[..., dy:, dx:])
    return output, {
        "content": losses.content_loss(out_features["content"], in_features["content"]),
        "style": losses.style_loss(out_features["style"], target_grams),
        "colour": losses.colour_loss(output, palette),
        "tv": losses.total_variation(output.float()),
        "temporal": losses.temporal_loss(moved_output, output, motion),
    }


def _initial_generator(config: TrainConfig) -> StyleNetwork:
    """A fresh StyleNetwork, or (--init) a copy of an existing style's network to fine-tune."""
    if not config.init:
        return StyleNetwork(**config.architecture)
    from training.checkpoint import load_style

    model, info = load_style(config.init)
    config.architecture = dict(info.architecture)
    return model.train()


def _palette(images: list[np.ndarray], count: int = 65536, seed: int = 0) -> torch.Tensor:
    """Nx3 float colours in [0, 1] sampled from the style image(s): the target of the colour loss."""
    pixels = np.concatenate([image.reshape(-1, 3) for image in images])
    chosen = np.random.default_rng(seed).choice(len(pixels), size=min(count, len(pixels)), replace=False)
    return torch.from_numpy(pixels[chosen].astype(np.float32) / 255.0)


def _scale_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


# --- resume files -----------------------------------------------------------------------------------

def save_state(trainer: StyleTrainer, run_dir: Path) -> Path:
    """Atomic write: a crash mid-save leaves the previous state intact."""
    generator = _unwrap(trainer.generator)
    if not all(bool(torch.isfinite(p).all()) for p in generator.parameters()):
        raise NonFiniteLoss(f"training stopped at step {trainer.step_index}: the network's weights are no longer "
                            "finite numbers")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / STATE_FILE
    tmp = path.with_suffix(".pt.tmp")
    torch.save(trainer.state(), tmp)
    tmp.replace(path)
    trainer.saved_step = trainer.step_index
    return path


def read_state(run_dir: Path, problem: Callable[[dict[str, Any]], str | None] | None = None) -> dict[str, Any]:
    """The resume state in `run_dir`, checked by `problem` (default: a StyleTrainer's state)."""
    path = run_dir / STATE_FILE
    if not path.is_file():
        raise UserError(f"nothing to resume: {path} does not exist (start without --resume)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file: say which, keep the traceback out
        raise UserError(f"{path}: resume state is damaged ({type(exc).__name__}); delete it to start over") from None
    if not isinstance(state, dict) or "generator" not in state or "step" not in state:
        raise UserError(f"{path}: not a stylecast resume state; delete it to start over")
    found = (problem or _state_problem)(state)
    if found:
        raise UserError(f"{path}: resume state is damaged ({found}); delete it to start over")
    return state


MAX_STEPS = 10**9  # the step seeds numpy (seeds < 2**32); no run comes near a billion steps


def _state_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a loaded resume state, if anything: a damaged or edited file must
    stop here as one clear line, not as a KeyError or TypeError deep inside train()."""
    return state_problem(state, TrainConfig, weights=("generator", "discriminator"),
                         optimisers=("g_optimizer", "d_optimizer"))


def state_problem(state: dict[str, Any], config_class: type, weights: tuple[str, ...],
                  optimisers: tuple[str, ...]) -> str | None:
    """The checks every trainer's resume state needs: a step count, weight and optimiser dictionaries of the
    right kinds, and a config `config_class.from_dict` understands."""
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEPS:
        return f"'step' is {str(step)[:40]!r}, not a count"
    for key in ("config", *weights, *optimisers):
        if not isinstance(state.get(key), dict):
            return f"'{key}' is missing or not a dictionary"
    for key in weights:
        if not state[key] or not all(isinstance(value, torch.Tensor) for value in state[key].values()):
            return f"'{key}' holds no weights"
    for key in optimisers:
        if not isinstance(state[key].get("param_groups"), list) or not isinstance(state[key].get("state"), dict):
            return f"'{key}' is not an optimiser state"
    steps = state["config"].get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        return "its config has no step count"
    try:
        config_class.from_dict(state["config"])
    except (TypeError, ValueError) as exc:
        return f"its config is not understood: {str(exc)[:80]}"
    return None


# --- the loop ---------------------------------------------------------------------------------------

def _content_crops(config: TrainConfig, rank: int) -> RandomCrops:
    return RandomCrops(load_images(config.content), config.size, seed=config.seed + rank)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _final_style_path(config: TrainConfig) -> Path:
    return Path(config.out) / f"{config.name}.safetensors"


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Run (or continue) training and write the style; returns its .safetensors path.

    With `resume`, the run's saved config is used; only `config.steps` (if non-zero) overrides its target.

    Raises UserError for an unreadable style/content, an existing run without --resume, a damaged resume state.
    KeyboardInterrupt saves the state first, then propagates.
    """
    device = torch.device(config.device)
    if device.type == "cpu":
        # torchrun on CPU: the processes share the cores, so each takes its share (oversubscribed
        # threads wait on each other at every op and run many times slower)
        world = max(1, int(os.environ.get("WORLD_SIZE", "1")))
        set_torch_threads(config.threads or max(1, decide_threads() // world))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available here (use --device cpu)")
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    run_dir = config.run_dir
    config, state = open_run(config, resume, overwrite, _final_style_path(config))
    distributed = Distributed.start(device)
    try:
        _seed_everything(config.seed + distributed.rank + (int(state["step"]) if state else 0))
        style_images = load_images(config.style)
        trainer = StyleTrainer(config, style_images, device, distributed)
        if state:
            trainer.load_state(state)
        content = _content_crops(config, distributed.rank)
        _loop(trainer, content, run_dir, distributed)
        path = _final_style_path(config)
        if distributed.main:
            path = write_style(trainer, config, style_images)
        distributed.barrier()
        return path
    finally:
        distributed.stop()


def open_run(config, resume: bool, overwrite: bool, final_path: Path,
             problem: Callable[[dict[str, Any]], str | None] | None = None) -> tuple[Any, dict[str, Any] | None]:
    """(config, resume state or None) for a run: with `resume` the run's saved config (only a non-zero
    `config.steps` overrides its target); without it, an existing run or result needs `overwrite`."""
    run_dir = config.run_dir
    if resume:
        state = read_state(run_dir, problem)
        # steps 0 = keep the run's own target; a smaller target than done so far just finishes the run now
        steps = max(config.steps or int(state["config"]["steps"]), int(state["step"]))
        return type(config).from_dict({**state["config"], "steps": steps, "progress": config.progress}), state
    if (run_dir / STATE_FILE).exists() and not overwrite:
        raise UserError(f"a run named '{config.name}' exists in {run_dir}; "
                        "add --resume to continue it or --overwrite to start over")
    if final_path.exists() and not overwrite:
        raise UserError(f"{final_path} exists; pick another --name or add --overwrite")
    return config, None


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """`kill`, `docker stop` and schedulers send SIGTERM: save the run like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _loop(trainer: StyleTrainer, content: RandomCrops, run_dir: Path, distributed: Distributed) -> None:
    with _sigterm_as_interrupt():
        _steps(trainer, content, run_dir, distributed)


def _steps(trainer: StyleTrainer, content: RandomCrops, run_dir: Path, distributed: Distributed) -> None:
    config = trainer.config
    writer = _tensorboard(run_dir) if distributed.main else None
    bar = tqdm(total=config.steps, initial=trainer.step_index, desc=f"train {config.name}", unit="step",
               disable=not (config.progress and distributed.main), dynamic_ncols=True)
    try:
        while trainer.step_index < config.steps:
            started = time.perf_counter()
            batch = content.batch(config.batch).to(trainer.device, non_blocking=True)
            values = trainer.step(batch)
            trainer.seconds += time.perf_counter() - started
            step = trainer.step_index
            bar.update(1)
            if step % config.log_every == 0 or step == config.steps:
                bar.set_postfix({k[:5]: f"{v:.3g}" for k, v in values.items()})
                if writer:
                    for name, value in values.items():
                        writer.add_scalar(f"loss/{name}", value, step)
            if writer and (step % config.sample_every == 0 or step == config.steps):
                _log_samples(writer, trainer, batch[..., : config.size, : config.size], step)
            if step % config.save_every == 0 and distributed.main:
                save_state(trainer, run_dir)
    except KeyboardInterrupt:
        if distributed.main:
            path = save_state(trainer, run_dir)
            bar.write(f"interrupted at step {trainer.step_index}: state saved to {path}; continue with --resume")
        raise
    except NonFiniteLoss as exc:  # the state on disk is the last good one: keep it, write nothing new
        path = run_dir / STATE_FILE
        kept = (f"the last good state (step {trainer.saved_step}) is kept in {path}" if trainer.saved_step is not None
                else f"no state was saved yet (every {config.save_every} steps)")
        raise NonFiniteLoss(f"{exc}; {kept}. Lower the loss weights (or --size/--batch) and --resume or "
                            "start over with --overwrite") from None
    finally:
        bar.close()
        if writer:
            writer.close()
    if distributed.main:
        save_state(trainer, run_dir)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: training works without its logs
        log.warning("tensorboard is not installed: no training logs in %s", run_dir)
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _log_samples(writer, trainer: StyleTrainer, batch: torch.Tensor, step: int) -> None:
    output = trainer.sample_outputs(batch)
    grid = torch.cat([torch.cat(list(batch[:4].float()), dim=2), torch.cat(list(output), dim=2)], dim=1)
    writer.add_image("samples/input_over_output", grid, step)


def preview_photo() -> np.ndarray:
    """The photo every preview shows: scikit-image's astronaut, or a generated gradient if it is missing."""
    for path in skimage_photo_paths():
        image = read_image(path)
        if image is not None:
            return image
    ramp = np.linspace(0, 255, PREVIEW_SIZE, dtype=np.float32)
    return np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (PREVIEW_SIZE, 1)),
                     np.tile(ramp[:, None], (1, PREVIEW_SIZE))], -1).astype(np.uint8)


@torch.no_grad()
def stylize_image(model: nn.Module, image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxWx3 uint8 through a StyleNetwork on its device (FP32)."""
    device = next(model.parameters()).device
    return to_image(model(to_tensor(image).to(device)))


def write_style(trainer: StyleTrainer, config: TrainConfig, style_images: list[np.ndarray]) -> Path:
    """The finished style: weights + JSON via save_style, and NAME.jpg showing it on a photo."""
    generator = _unwrap(trainer.generator).eval()
    training_extra = {}
    if config.calibrate_colour:  # a copy: the resume state keeps the weights as trained
        from training.calibration import calibrate_mean_colour
        from training.style_code import colour_statistics

        generator = copy.deepcopy(generator).cpu()
        target = np.mean([colour_statistics(image)[:3] for image in style_images], axis=0)
        shift = calibrate_mean_colour(generator, torch.from_numpy(target))
        training_extra["colour_shift"] = [round(float(v), 4) for v in shift]
    photo = _scale_short_side(preview_photo(), PREVIEW_SIZE)
    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    preview = f"{config.name}.jpg"
    stylized = stylize_image(generator, photo)
    cv2.imwrite(str(out_dir / preview), cv2.cvtColor(stylized, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    training_info = {k: v for k, v in config.to_dict().items() if k not in {"progress", "out", "work_dir"}}
    training_info["steps_done"] = trainer.step_index
    training_info["minutes"] = round(trainer.seconds / 60.0, 1)
    training_info["threads"] = torch.get_num_threads() if trainer.device.type == "cpu" else None
    training_info["feature_network"] = getattr(trainer.features, "kind", "unknown")
    training_info.update(training_extra)
    return save_style(generator, _final_style_path(config), name=config.name, description=config.description,
                      training=training_info, preview=preview)
