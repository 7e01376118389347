"""Train the conditional network (training/conditional.py) on a folder of style images: `stylecast train-base`.

Each step draws `styles_per_step` styles and gives each `batch / styles_per_step` content crops; each style's
loss is the per-style recipe (training/train.py `style_terms`: content, Gram style, colour, TV, temporal)
against that style's own targets, computed once at the start. No GAN: a discriminator per style is not
possible, and one shared one would judge "any painting" rather than this painting.

Resume, Ctrl-C/SIGTERM, the progress bar, non-finite losses and TensorBoard work as in train.py (same loop).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.errors import UserError, first_line
from common.threads import decide_threads, set_torch_threads
from training.checkpoint import load_style
from training.conditional import CONDITIONAL_DIR, ConditionalStyleNetwork, save_conditional
from training.data import load_images
from training.features import build_feature_network
from training.style_code import style_code
from training.train import (STATE_FILE, Distributed, TrainConfig, _content_crops, _loop, _palette,
                            _scale_short_side, _seed_everything, check_finite, open_run, state_problem, style_grams,
                            style_terms)


@dataclass
class ConditionalConfig(TrainConfig):
    """TrainConfig with `style` = a folder of style images; the GAN settings are unused."""

    name: str = "arbitrary"
    steps: int = 10000
    size: int = 128
    batch: int = 8
    style_size: int | None = 384
    styles_per_step: int = 4
    # 1e-3 (the per-style rate) let one style's update push another's code into a saturated, flat output
    # within a few hundred steps (losses jumping 5 -> 150, TV 0); 3e-4 with a gradient norm cap does not
    lr: float = 3e-4
    max_grad_norm: float = 1.0
    hidden: int = 256  # width of the code -> weights MLP
    init: str | None = "mosaic"  # a shipped style whose network the shared weights start from
    out: str = str(CONDITIONAL_DIR)
    palette_samples: int = 16384


@dataclass
class StyleTarget:
    """What one style image's losses compare against (computed once)."""

    code: torch.Tensor  # CODE_SIZE
    grams: list[torch.Tensor]
    palette: torch.Tensor  # Nx3


class ConditionalTrainer:
    """Owns the conditional network, its optimiser and every style's targets; `step(batch)` is one update."""

    def __init__(self, config: ConditionalConfig, style_images: list[np.ndarray], device: torch.device):
        self.config, self.device = config, device
        self.world = 1
        self.generator = ConditionalStyleNetwork(config.architecture or None, hidden=config.hidden).to(device)
        self.features = build_feature_network(config.features, config.vgg_weights).to(device)
        style_size = config.style_size or int(config.size * 1.5)
        self.targets = []
        for image in style_images:
            scaled = _scale_short_side(image, style_size)
            self.targets.append(StyleTarget(torch.from_numpy(style_code(image)).to(device),
                                            style_grams(self.features, [scaled], device),
                                            _palette([scaled], count=config.palette_samples).to(device)))
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr)
        self.rng = random.Random(config.seed)
        self.step_index, self.seconds, self.saved_step = 0, 0.0, None

    def start_fresh(self) -> None:
        """Shared weights from config.init (a trained style starts far closer than random); code statistics
        from the training styles, so every code dimension reaches the MLP at a similar scale."""
        if self.config.init:
            network, _ = load_style(self.config.init)
            self.generator.network.load_state_dict(network.state_dict())
        codes = torch.stack([target.code for target in self.targets])
        self.generator.code_mean.copy_(codes.mean(0))
        self.generator.code_std.copy_(codes.std(0).clamp_min(1e-3) if len(codes) > 1 else torch.ones_like(codes[0]))

    def step(self, content: torch.Tensor) -> dict[str, float]:
        c, w = self.config, self.config.weights
        groups = content.chunk(max(1, min(c.styles_per_step, len(content))))
        totals: dict[str, float] = {}
        self.optimizer.zero_grad(set_to_none=True)
        for clean in groups:
            target = self.targets[self.rng.randrange(len(self.targets))]
            _, terms = style_terms(lambda x: self.generator(x, target.code), clean, self.features, target.grams,
                                   target.palette, c)
            loss = sum(getattr(w, name) * value for name, value in terms.items())
            check_finite({**terms, "total": loss}, self.step_index + 1)  # before any update reaches the weights
            (loss / len(groups)).backward()
            for name, value in {**terms, "total": loss}.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / len(groups)
        torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.step_index += 1
        return totals

    @torch.no_grad()
    def sample_outputs(self, batch: torch.Tensor) -> torch.Tensor:
        """The first 4 crops, each in another training style, for the TensorBoard grid."""
        self.generator.eval()
        picks = [self.targets[i * len(self.targets) // 4] for i in range(4)]
        output = torch.cat([self.generator(crop[None], t.code) for crop, t in zip(batch[:4], picks)])
        self.generator.train()
        return output.clamp(0, 1)

    def state(self) -> dict[str, Any]:
        return {"kind": "conditional", "step": self.step_index, "seconds": self.seconds,
                "config": self.config.to_dict(), "generator": self.generator.state_dict(),
                "g_optimizer": self.optimizer.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["g_optimizer"])
        self.step_index = self.saved_step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))


def conditional_state_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with a conditional resume state (the same checks as a per-style one's, its own keys)."""
    if state.get("kind") != "conditional":
        return "it is not a conditional (train-base) run"
    return state_problem(state, ConditionalConfig, weights=("generator",), optimisers=("g_optimizer",))


def network_path(config: ConditionalConfig) -> Path:
    return Path(config.out) / f"{config.name}.safetensors"


def train_conditional(config: ConditionalConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Run (or continue) training the conditional network; returns its .safetensors path."""
    set_torch_threads(config.threads or decide_threads())
    config, state = open_run(config, resume, overwrite, network_path(config), conditional_state_problem)
    final = network_path(config)  # the run's own config: a resumed run writes where it was started to
    _seed_everything(config.seed + (int(state["step"]) if state else 0))
    images = load_images(config.style)
    if len(images) < 2:
        raise UserError(f"{config.style}: a conditional network needs a folder of several style images")
    trainer = ConditionalTrainer(config, images, torch.device(config.device))
    if state:
        try:
            trainer.load_state(state)
        except (RuntimeError, ValueError, KeyError) as exc:  # weights or optimiser of another network's shape
            raise UserError(f"{config.run_dir / STATE_FILE}: resume state does not fit this network "
                            f"({first_line(exc)}); delete it to start over") from None
    else:
        trainer.start_fresh()
    _loop(trainer, _content_crops(config, 0), config.run_dir, Distributed())
    training = {k: v for k, v in config.to_dict().items() if k not in {"progress", "out", "work_dir"}}
    training.update(steps_done=trainer.step_index, minutes=round(trainer.seconds / 60.0, 1), styles=len(images),
                    threads=torch.get_num_threads())
    return save_conditional(trainer.generator, final, name=config.name, training=training)
