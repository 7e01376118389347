"""The one place that reads and writes style checkpoints.

A style is two files side by side:
- `NAME.safetensors`: the StyleNetwork weights (safe to load: no pickle).
- `NAME.json`: metadata: {"format", "name", "architecture", "training", "preview", "description", ...}.

Everything else (backends, the frame loop, the WebRTC server, export) calls `load_style`.
Training *resume* state (optimisers, step) is separate: see `training/train.py`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from common.errors import UserError
from styles import DEFAULT_STYLE, STYLES_DIR  # noqa: F401  (DEFAULT_STYLE re-exported)
from training.model import StyleNetwork

FORMAT = "stylecast-style/1"


@dataclass
class StyleInfo:
    """What a style's JSON says, plus where its files are."""

    name: str
    weights_path: Path
    architecture: dict[str, Any]
    description: str = ""
    preview_path: Path | None = None
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def list_styles(directory: Path = STYLES_DIR) -> list[StyleInfo]:
    """The styles in `directory` (the shipped ones by default), sorted by name; broken ones are skipped."""
    found = []
    for weights in sorted(Path(directory).glob("*.safetensors")):
        try:
            found.append(read_style_info(weights))
        except UserError:
            continue
    return found


def resolve_style(name_or_path: str | Path) -> Path:
    """Map a shipped style name, a `.safetensors` path or a `.json` path to the weights file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json":
        candidate = candidate.with_suffix(".safetensors")
    if candidate.suffix == ".safetensors":
        if not candidate.is_file():
            raise UserError(f"style checkpoint not found: {candidate}")
        return candidate
    shipped = STYLES_DIR / f"{name_or_path}.safetensors"
    if shipped.is_file():
        return shipped
    names = ", ".join(s.name for s in list_styles()) or "none installed"
    raise UserError(f"unknown style '{name_or_path}' (shipped styles: {names}; or give a path to a .safetensors file)")


def read_style_info(weights_path: Path) -> StyleInfo:
    """Read and validate the JSON beside a weights file."""
    meta_path = weights_path.with_suffix(".json")
    if not meta_path.is_file():
        raise UserError(f"{weights_path}: metadata file {meta_path.name} is missing beside it")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{meta_path}: not a style checkpoint (expected format '{FORMAT}')")
    architecture = meta.get("architecture")
    if not isinstance(architecture, dict):
        raise UserError(f"{meta_path}: 'architecture' is missing")
    preview = meta.get("preview")
    known = {"format", "name", "architecture", "description", "preview", "training"}
    return StyleInfo(
        name=str(meta.get("name") or weights_path.stem),
        weights_path=weights_path,
        architecture=architecture,
        description=str(meta.get("description", "")),
        preview_path=(weights_path.parent / preview) if preview else None,
        training=dict(meta.get("training") or {}),
        extra={k: v for k, v in meta.items() if k not in known},
    )


ARCHITECTURE_LIMIT = 1024  # no sane StyleNetwork size comes near this; a bigger one is a damaged JSON


def _check_architecture(info: StyleInfo) -> None:
    """Sizes must be small positive integers: a huge or negative one would reach the allocator."""
    for key, value in info.architecture.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ARCHITECTURE_LIMIT:
            raise UserError(f"{info.weights_path.with_suffix('.json')}: architecture '{key}' = {value!r} "
                            f"is not an integer in 0..{ARCHITECTURE_LIMIT}")


def load_style(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[StyleNetwork, StyleInfo]:
    """Build the network described by a style's JSON and load its weights, in eval mode.

    Raises UserError for a missing, corrupt or mismatched checkpoint, never a raw traceback.
    """
    info = read_style_info(resolve_style(name_or_path))
    _check_architecture(info)
    try:
        model = StyleNetwork(**info.architecture)
    except TypeError as exc:
        raise UserError(f"{info.weights_path}: architecture in its JSON is not understood ({exc})") from None
    try:
        state = load_file(str(info.weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{info.weights_path}: corrupt or not a safetensors file ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{info.weights_path}: weights do not match the architecture in its JSON ({first})") from None
    return model.to(device).eval(), info


def save_style(
    model: StyleNetwork,
    path: Path,
    *,
    name: str,
    description: str = "",
    training: dict[str, Any] | None = None,
    preview: str | None = None,
    **extra: Any,
) -> Path:
    """Write `path` (.safetensors) and its JSON; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "name": name,
        "description": description,
        "architecture": model.architecture,
        "preview": preview,
        "training": training or {},
        **extra,
    }
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(state, str(tmp))
    tmp.replace(path)  # atomic: a crash mid-write never leaves a half checkpoint
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
