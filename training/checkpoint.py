"""The one place that reads and writes style checkpoints.

A style is two files side by side:
- `NAME.safetensors`: the StyleNetwork weights (safe to load: no pickle).
- `NAME.json`: metadata: {"format", "name", "architecture", "training", "preview", "description", ...}.

Everything else (backends, the frame loop, the WebRTC server, export) calls `load_style`.
Training *resume* state (optimisers, step) is separate: see `training/train.py`.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from common.errors import UserError, first_line
from styles import DEFAULT_STYLE, STYLES_DIR  # noqa: F401  (DEFAULT_STYLE re-exported)
from export.cache import write_atomically
from training.model import StyleNetwork

FORMAT = "stylecast-style/1"
MAX_META_BYTES = 1 << 20  # a style's JSON is ~1 KB; a bigger one is not a style's (and is not read into memory)


def _shown(value: Any, limit: int = 60) -> str:
    """`value` for an error message: repr, cut short (a damaged file can hold megabytes in one field)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_file(path: Path) -> bool:
    """Path.is_file, but False (not OSError/ValueError) for names the system cannot even look up:
    too long, or with a NUL byte."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _is_plain_name(name: str) -> bool:
    """A name that stays one file name inside its folder (the rule `stylecast train --name` applies):
    the ONNX/TensorRT caches put a style's name into file names."""
    return bool(name) and name == Path(name).name and not name.startswith(".") and "\\" not in name \
        and not any(ord(c) < 32 or ord(c) == 127 for c in name) and len(name) <= 100


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
    """Map a shipped style name, a `.safetensors` path or a `.json` path to the weights file; a picture
    (file or URL) or a blend ('starry_night:0.7,scream:0.3') becomes a style folded from the conditional
    network (training/style_spec.py), cached."""
    from training.style_spec import is_picture_spec, materialize

    if is_picture_spec(str(name_or_path)):
        return materialize(str(name_or_path))
    candidate = Path(name_or_path)
    if candidate.suffix == ".json":
        candidate = candidate.with_suffix(".safetensors")
    if candidate.suffix == ".safetensors":
        if not _is_file(candidate):
            raise UserError(f"style checkpoint not found: {_shown(str(candidate), 200)}")
        return candidate
    shipped = STYLES_DIR / f"{name_or_path}.safetensors"
    if _is_file(shipped):
        return shipped
    names = ", ".join(s.name for s in list_styles()) or "none installed"
    raise UserError(f"unknown style {_shown(str(name_or_path), 80)} (shipped styles: {names}; "
                    "or give a path to a .safetensors file)")


def read_style_info(weights_path: Path) -> StyleInfo:
    """Read and validate the JSON beside a weights file.

    Raises UserError (one line) for a missing, oversized, non-UTF-8 or malformed JSON and for fields
    of the wrong type: nothing a damaged or hostile file holds gets further as another exception.
    """
    meta_path = weights_path.with_suffix(".json")
    if not _is_file(meta_path):
        raise UserError(f"{weights_path}: metadata file {meta_path.name} is missing beside it")
    try:
        if meta_path.stat().st_size > MAX_META_BYTES:
            raise UserError(f"{meta_path}: {meta_path.stat().st_size} bytes is too big for a style's JSON "
                            f"(at most {MAX_META_BYTES})")
        meta = json.loads(meta_path.read_bytes().decode("utf-8-sig"))  # a BOM (Windows Notepad) is not damage
    except OSError as exc:
        raise UserError(f"{meta_path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a number of over 4300 digits
        raise UserError(f"{meta_path}: not valid JSON ({first_line(exc)})") from None
    except RecursionError:
        raise UserError(f"{meta_path}: not valid JSON (nested too deeply)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{meta_path}: not a style checkpoint (expected format '{FORMAT}')")
    architecture = meta.get("architecture")
    if not isinstance(architecture, dict):
        raise UserError(f"{meta_path}: 'architecture' is missing")
    name = meta.get("name")
    if name is None or name == "":
        name = weights_path.stem  # the file's own name: already a plain name
    elif not isinstance(name, str) or not _is_plain_name(name):
        raise UserError(f"{meta_path}: 'name' = {_shown(name)} must be a plain name "
                        "(at most 100 characters; no '/', '\\', control characters or leading '.')")
    description = "" if meta.get("description") is None else meta["description"]
    if not isinstance(description, str):
        raise UserError(f"{meta_path}: 'description' = {_shown(description)} must be a string")
    preview = meta.get("preview")
    if preview is not None and not (isinstance(preview, str) and _is_plain_name(preview)):
        raise UserError(f"{meta_path}: 'preview' = {_shown(preview)} must be the name of an image "
                        "file beside it")
    training = {} if meta.get("training") is None else meta["training"]
    if not isinstance(training, dict):
        raise UserError(f"{meta_path}: 'training' = {_shown(training)} must be an object")
    known = {"format", "name", "architecture", "description", "preview", "training"}
    return StyleInfo(
        name=name,
        weights_path=weights_path,
        architecture=architecture,
        description=description,
        preview_path=(weights_path.parent / preview) if preview else None,
        training=dict(training),
        extra={k: v for k, v in meta.items() if k not in known},
    )


ARCHITECTURE_LIMIT = 1024  # no sane StyleNetwork size comes near this; a bigger one is a damaged JSON
ARCHITECTURE_DEFAULTS = {name: p.default for name, p in inspect.signature(StyleNetwork).parameters.items()}
COUNTS = ("depth", "quarter_blocks", "half_blocks")  # numbers of blocks: 0 is a (small) network; widths are >= 1
MAY_BE_ZERO = COUNTS + ("detail",)  # ... and no detail pass-through is the plain network


def _check_architecture(info: StyleInfo) -> None:
    """Sizes must be small integers that make a network: a huge or negative one would reach the allocator."""
    meta_path = info.weights_path.with_suffix(".json")
    for key, value in info.architecture.items():
        if key not in ARCHITECTURE_DEFAULTS:
            raise UserError(f"{meta_path}: architecture has an unknown entry {_shown(key)} "
                            f"(known: {', '.join(ARCHITECTURE_DEFAULTS)})")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ARCHITECTURE_LIMIT:
            raise UserError(f"{meta_path}: architecture '{key}' = {_shown(value)} "
                            f"is not an integer in 0..{ARCHITECTURE_LIMIT}")
        if value == 0 and key not in MAY_BE_ZERO:
            raise UserError(f"{meta_path}: architecture '{key}' = 0 makes no network (a width must be at least 1)")
    architecture = {**ARCHITECTURE_DEFAULTS, **info.architecture}
    if architecture["dim"] % architecture["heads"]:
        raise UserError(f"{meta_path}: architecture 'dim' = {architecture['dim']} does not divide into "
                        f"'heads' = {architecture['heads']}")


def _weights_header(info: StyleInfo) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the safetensors header, before any tensor is read."""
    try:
        with safe_open(str(info.weights_path), framework="pt") as weights:
            return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{info.weights_path}: corrupt or not a safetensors file ({first_line(exc)})") from None


def _mismatch(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str:
    """The first difference between the network's tensors and the file's, in a few words."""
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing:
        return f"missing {_shown(missing[0])}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        return f"unexpected {_shown(unexpected[0])}{more}"
    key = next(k for k in expected if expected[k] != found[k])
    return f"{key} is {list(found[key])[:8]} in the file, {list(expected[key])} in the network"


def load_style(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[StyleNetwork, StyleInfo]:
    """Build the network described by a style's JSON and load its weights, in eval mode.

    Raises UserError for a missing, corrupt or mismatched checkpoint, never a raw traceback.
    The JSON's architecture is checked against the file's tensor names and shapes (on the meta device,
    no memory) before the network is built, so memory use is bounded by the weights file's own size.
    """
    info = read_style_info(resolve_style(name_or_path))
    _check_architecture(info)
    found = _weights_header(info)
    mismatch = f"{info.weights_path}: weights do not match the architecture in its JSON"
    blocks = sum(info.architecture.get(key, ARCHITECTURE_DEFAULTS[key]) for key in COUNTS)
    if blocks > len(found):  # each block has its own tensors: no need to build 1000s of them to see it
        raise UserError(f"{mismatch} ({blocks} blocks, {len(found)} tensors in the file)")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in StyleNetwork(**info.architecture).state_dict().items()}
    if expected != found:
        raise UserError(f"{mismatch} ({_mismatch(expected, found)})")
    try:
        state = load_file(str(info.weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{info.weights_path}: corrupt or not a safetensors file ({first_line(exc)})") from None
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            raise UserError(f"{mismatch} ({key} holds {str(tensor.dtype).removeprefix('torch.')}, "
                            "not floating-point numbers)")
        if not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{info.weights_path}: damaged weights ({key} holds NaN or infinite values)")
    model = StyleNetwork(**info.architecture)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"{mismatch} ({first_line(exc)})") from None
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
    # each file through its own uniquely named temporary file, JSON first: a crash or a second process writing
    # the same style never leaves half a checkpoint, and weights never appear without their JSON
    text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    write_atomically(path.with_suffix(".json"), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    write_atomically(path, lambda tmp: save_file(state, str(tmp)))
    return path
