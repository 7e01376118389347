"""StyleNetwork -> ONNX with dynamic batch/height/width, checked against PyTorch after every export.

Opset 17: the newest opset that TensorRT 8.6, 10.x and 11.x all parse, and old enough for every
ONNX Runtime still in use. The graph is `frames` (Bx3xHxW float32 RGB in [0,1]) -> `stylized`
(same shape); uint8 conversion stays outside the graph so one file serves ORT and TensorRT.

The mixed-precision variant (for TensorRT's strongly typed FP16 build) stores weights and most
ops in FP16 but keeps the overflow-prone ones in FP32: the LayerNorm reductions (ReduceMean, Pow,
Sqrt, Div/Reciprocal) and the attention softmaxes, whose sum runs over up to 32k tokens at 1080p.
"""
from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from common.errors import UserError
from export.cache import cache_dir, cache_key, file_sha256, prune, used, write_atomically
from training.checkpoint import StyleInfo, load_style
from training.model import StyleNetwork

OPSET = 17
# Bumped whenever StyleNetwork's forward is rewritten into a different graph, so a cached export of the old graph
# is never reused (2: full-size steps at half size; 3: the detail too; 4: its scale folded in).
GRAPH_VERSION = 4
INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"
# ORT on CPU vs PyTorch on CPU, both FP32: differences are summation order only (~1e-6).
FP32_TOLERANCE = 1e-3
# Ops kept in FP32 inside the FP16 graph (see the module docstring).
FP32_OPS = ("ReduceMean", "Pow", "Sqrt", "Reciprocal", "Div", "Softmax", "Sigmoid")

log = logging.getLogger(__name__)


class ExportCheckError(UserError):
    """The exported graph does not compute what the PyTorch model computes."""


def export_onnx(model: StyleNetwork, path: Path, sample_hw: tuple[int, int] = (64, 96), *,
                template: bool = False) -> Path:
    """Write `model` as ONNX with dynamic batch, height and width; returns `path`.

    The sample size only drives tracing: the padding to a multiple of 8 is traced as shape
    arithmetic, so any size runs afterwards (tested with a size that is not a multiple of 8).
    `template`: nothing folded, so every initializer is a parameter or buffer by its own name (`template_onnx`).
    """
    model = model.to("cpu").eval()
    sample = torch.rand(1, 3, *sample_hw)
    axes = {0: "batch", 2: "height", 3: "width"}

    def write(tmp: Path) -> None:
        with (torch.inference_mode(), warnings.catch_warnings(),
              contextlib.nullcontext() if template else model.kernels_fixed()):
            warnings.simplefilter("ignore")  # constant-folding notes about the crop's Slice: harmless
            torch.onnx.export(
                model, (sample,), str(tmp), dynamo=False, opset_version=OPSET,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, do_constant_folding=not template,
            )

    return write_atomically(Path(path), write)


def template_onnx(model: StyleNetwork) -> Path:
    """The graph of `model`'s architecture with its weights as named initializers, traced once and cached.

    Why: tracing holds Python's GIL for ~0.4 s (measured: a thread waiting on it stalled 404 ms), a frozen frame
    when a picture is switched to live. From the template a new style's file is its weights dropped in by name
    (`export_by_template`); ONNX Runtime folds the weight-only steps when it opens the file (same speed a frame:
    11.6 vs 11.5 ms at 640x360). The first picture ever on a machine still traces, once per torch version."""
    key = cache_key(json.dumps(model.architecture, sort_keys=True), torch.__version__, OPSET, GRAPH_VERSION)
    path = cache_dir("onnx") / f"template-{key}.onnx"
    if path.is_file():
        used(path)
        return path
    log.info("tracing the style network's graph (once per architecture; cached at %s)", path)
    return export_onnx(model, path, template=True)


def ensure_picture_template() -> None:
    """Trace the template a picture's network is written into, before a live stream starts (once per machine and
    torch version; a file check afterwards), so that switching to a new picture live never traces."""
    from training.conditional import FOLDED_DETAIL, default_conditional

    try:
        meta = json.loads(default_conditional().with_suffix(".json").read_text(encoding="utf-8"))
        network = StyleNetwork(**{**meta["architecture"], "detail": FOLDED_DETAIL})
    except (OSError, ValueError, KeyError, TypeError):
        return  # no usable conditional network: a picture will say so when it is asked for
    template_onnx(network)


def export_by_template(model: StyleNetwork, path: Path) -> Path:
    """`model` as ONNX without tracing: its parameters and buffers written into the template's initializers."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(template_onnx(model)))
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    for initializer in proto.graph.initializer:
        if initializer.name not in tensors:
            raise ExportCheckError(f"the ONNX template has an initializer '{initializer.name}' the network lacks")
        value = tensors[initializer.name].detach().to("cpu", torch.float32).numpy()
        initializer.CopyFrom(numpy_helper.from_array(value, initializer.name))
    return write_atomically(Path(path), lambda tmp: onnx.save(proto, str(tmp)))


def ort_session(path: Path, threads: int = 0, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
    """An ONNX Runtime session with all graph optimisations; threads and waiting from common.threads.

    `providers`: ORT execution providers in order of preference (CPU last as the fallback)."""
    import onnxruntime as ort

    from common.threads import configure_onnxruntime

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    configure_onnxruntime(options, threads)
    if "DmlExecutionProvider" in providers:
        options.enable_mem_pattern = False  # DirectML requires it (documented ORT constraint)
    return ort.InferenceSession(str(path), options, providers=list(providers))


def max_abs_error(model: StyleNetwork, path: Path, hw: tuple[int, int] = (72, 100), seed: int = 0) -> float:
    """Max |ORT(path) - PyTorch(model)| on one random Bx3xHxW frame (pixels in [0,1])."""
    generator = torch.Generator().manual_seed(seed)
    frame = torch.rand(1, 3, *hw, generator=generator)
    with torch.inference_mode():
        expected = model.to("cpu").eval()(frame).numpy()
    got = ort_session(path).run([OUTPUT_NAME], {INPUT_NAME: frame.numpy()})[0]
    if got.shape != expected.shape:
        raise ExportCheckError(f"{path}: ONNX output shape {got.shape} != PyTorch {expected.shape}")
    return float(np.abs(got.astype(np.float32) - expected).max())


def check_onnx(model: StyleNetwork, path: Path, tolerance: float = FP32_TOLERANCE,
               hw: tuple[int, int] = (72, 100)) -> float:
    """Compare ORT with PyTorch; raise ExportCheckError above `tolerance`. Returns the max abs error."""
    error = max_abs_error(model, path, hw)
    if not error <= tolerance:  # also catches NaN
        raise ExportCheckError(f"{path}: ONNX Runtime differs from PyTorch by {error:.3g} "
                               f"(max abs, pixels in [0,1]; tolerance {tolerance:g}): the export is broken")
    return error


def convert_to_mixed_fp16(src: Path, dst: Path) -> Path:
    """FP32 ONNX -> FP16 ONNX with FP32 inputs/outputs and FP32_OPS kept in FP32 (casts inserted)."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(src))
    mixed = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False,
                                     op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(FP32_OPS))
    return write_atomically(Path(dst), lambda tmp: onnx.save(mixed, str(tmp)))


def style_onnx(style: str | Path, precision: str = "fp32", live: bool = False) -> tuple[Path, StyleInfo]:
    """The ONNX file of a style (shipped name or checkpoint), exported and checked once, then cached.

    The cache key is the weights' SHA-256 + torch version + opset + GRAPH_VERSION + precision, so a retrained style
    or a new exporter or forward makes a new file. `live` (fp32, for ONNX Runtime, beside a running frame loop):
    the file comes from the architecture's template, without tracing (`template_onnx`).
    """
    if precision not in ("fp32", "fp16") or (live and precision != "fp32"):
        raise UserError(f"unknown ONNX precision '{precision}' (fp32 or fp16; live: fp32)")
    model, info = load_style(style, "cpu")
    key = cache_key(file_sha256(info.weights_path), torch.__version__, OPSET, GRAPH_VERSION,
                    *(["live"] if live else []))
    fp32_path = cache_dir("onnx") / f"{info.name}-{key}.onnx"
    if fp32_path.is_file():
        used(fp32_path)
    else:
        log.info("exporting style '%s' to ONNX (once; cached at %s)", info.name, fp32_path)
        (export_by_template if live else export_onnx)(model, fp32_path)
        try:
            check_onnx(model, fp32_path)
        except ExportCheckError:
            fp32_path.unlink(missing_ok=True)  # never cache a broken export
            raise
        prune("onnx")
    if precision == "fp32":
        return fp32_path, info
    fp16_path = fp32_path.with_name(f"{fp32_path.stem}-fp16.onnx")
    if fp16_path.is_file():
        used(fp16_path)
    else:
        convert_to_mixed_fp16(fp32_path, fp16_path)
    return fp16_path, info
