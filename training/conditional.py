"""One network for every style: a StyleNetwork whose style-dependent weights are computed from a style code.

Why this shape (MicroAST's split, with FiLM-like modulation):
- Per frame only the StyleNetwork runs. The code (training/style_code.py) goes through a small MLP once per
  style change, which writes a *delta* onto a chosen subset of the network's weights: every LayerNorm's
  scale and shift (FiLM), every bias, the depthwise (spatial) kernels, the half-size pointwise convs and
  the output layer. Together that is ~5 % of the weights and all of the per-channel colour and stroke
  controls; the large 1x1 and 3x3 convs are shared by all styles.
- At a fixed style the result *is* a plain StyleNetwork (`fixed(code)`): the same ONNX graph, the same
  TensorRT engine and the same speed as a per-style network. Conditioning costs nothing per frame.
- Blending mixes codes (`mix_codes`); the MLP is smooth, so the weights, and the picture, move smoothly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.func import functional_call

from common.errors import UserError, first_line
from export.cache import write_atomically
from styles import STYLES_DIR
from training.model import LayerNorm2d, StyleNetwork
from training.style_code import CODE_SIZE


FOLDED_DETAIL = 50  # percent; 0 folds to exactly the trained network


def style_dependent_names(network: StyleNetwork) -> list[str]:
    """The parameters the code controls: LayerNorm affines, biases, depthwise kernels, half-size and output convs."""
    names = []
    norm_modules = {name for name, module in network.named_modules() if isinstance(module, LayerNorm2d)}
    depthwise = {name for name, module in network.named_modules()
                 if isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels}
    for name, _ in network.named_parameters():
        owner = name.rsplit(".", 1)[0]
        if (owner in norm_modules or owner in depthwise or name.endswith(".bias")
                or name.startswith(("output.", "to_full.", "half_decoder."))):
            names.append(name)
    return names


class ConditionalStyleNetwork(nn.Module):
    """StyleNetwork weights + an MLP from a style code to deltas of the style-dependent weights.

    forward(x, code): x Bx3xHxW in [0, 1], code CODE_SIZE (one style for the batch) -> Bx3xHxW in [0, 1].
    `code_mean`/`code_std` standardise raw codes (measured on the training styles, saved with the weights).
    """

    def __init__(self, architecture: dict | None = None, hidden: int = 256, code_size: int = CODE_SIZE):
        super().__init__()
        self.network = StyleNetwork(**(architecture or {}))
        self.architecture = self.network.architecture
        self.dependent = style_dependent_names(self.network)
        shapes = dict(self.network.named_parameters())
        self.sizes = [shapes[name].numel() for name in self.dependent]
        self.hidden = hidden
        self.mlp = nn.Sequential(nn.Linear(code_size, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, sum(self.sizes)))
        nn.init.zeros_(self.mlp[-1].weight)  # starts as the plain network for every style
        nn.init.zeros_(self.mlp[-1].bias)
        self.register_buffer("code_mean", torch.zeros(code_size))
        self.register_buffer("code_std", torch.ones(code_size))

    def style_weights(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network's full parameter dict for one style code (CODE_SIZE)."""
        deltas = self.mlp(((code - self.code_mean) / self.code_std)[None])[0].split(self.sizes)
        weights = dict(self.network.named_parameters())
        for name, delta in zip(self.dependent, deltas):
            weights[name] = weights[name] + delta.view_as(weights[name])
        return weights

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return functional_call(self.network, self.style_weights(code), (x,))

    @torch.no_grad()
    def fixed(self, code: torch.Tensor) -> StyleNetwork:
        """A plain StyleNetwork with this style's weights folded in: what export and every backend run.

        It passes FOLDED_DETAIL % of the input's finest detail through (StyleNetwork's `detail`): on the held-out
        paintings the conditional network alone kept less structure than the peer on most of them and lost
        fur, whiskers and faces (bench/results/arbitrary.md has the figures with and without it)."""
        network = StyleNetwork(**{**self.architecture, "detail": FOLDED_DETAIL})
        network.load_state_dict({name: value.detach().clone() for name, value in self.style_weights(code).items()})
        return network.eval()


def mix_codes(codes: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted mean of style codes (weights need not sum to 1; they must not sum to 0)."""
    total = float(sum(weights))
    return sum(float(w) * c for w, c in zip(weights, codes)) / total


# --- files: NAME.safetensors (the network, the MLP and the code statistics) + NAME.json ------------------

CONDITIONAL_FORMAT = "stylecast-conditional/1"
CONDITIONAL_DIR = STYLES_DIR / "conditional"
SHIPPED_CONDITIONAL = CONDITIONAL_DIR / "arbitrary.safetensors"


def default_conditional() -> Path:
    """The network pictures and blends go through: $STYLECAST_CONDITIONAL, else the shipped one."""
    return Path(os.environ.get("STYLECAST_CONDITIONAL") or SHIPPED_CONDITIONAL)


def save_conditional(model: ConditionalStyleNetwork, path: Path, *, name: str,
                     training: dict[str, Any] | None = None) -> Path:
    """Write the weights (atomically) and the JSON that rebuilds the network; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    write_atomically(path, lambda tmp: save_file(state, str(tmp)))
    meta = {"format": CONDITIONAL_FORMAT, "name": name, "architecture": model.architecture,
            "hidden": model.hidden, "code_size": int(model.code_mean.numel()), "training": training or {}}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_conditional(path: Path | None = None) -> ConditionalStyleNetwork:
    """The conditional network in eval mode; UserError (one line) for a missing, damaged or foreign file."""
    path = Path(path or default_conditional())
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise UserError(f"the conditional style network {path} (and its .json) is missing: reinstall stylecast, "
                        "set STYLECAST_CONDITIONAL to one, or train one with `stylecast train-base`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != CONDITIONAL_FORMAT:
            raise ValueError(f"expected format '{CONDITIONAL_FORMAT}'")
        model = ConditionalStyleNetwork(meta["architecture"], hidden=int(meta["hidden"]),
                                        code_size=int(meta["code_size"]))
        model.load_state_dict(load_file(str(path)), strict=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise UserError(f"{path}: not a usable conditional style network ({first_line(exc)})") from None
    return model.eval()
