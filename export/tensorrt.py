"""TensorRT FP16 engines: build from ONNX with a shape profile, cache on disk, run on torch CUDA tensors.

Precision: the engine is built from the mixed-precision ONNX (`export.onnx.convert_to_mixed_fp16`:
FP16 weights and convs, FP32 LayerNorm reductions and softmaxes) as a *strongly typed* network,
the only FP16 route TensorRT 11 keeps (BuilderFlag.FP16 was removed there) and the recommended
one since 10.12. TensorRT 8.6 (no strong typing) falls back to the FP16 flag with the same ops
pinned to FP32 by layer precision constraints.

Cache: `$STYLECAST_CACHE/engines/NAME-KEY.engine`, KEY = hash(ONNX bytes, GPU name, TensorRT
version, profile, precision): a rebuild happens only when one of those changes. The timing cache
(per GPU + TensorRT version) makes even a rebuild for a new profile or style fast.

`tensorrt` and CUDA are imported inside functions: this module imports fine on a CPU-only machine.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from common.errors import UserError
from export.cache import cache_dir, cache_key, file_sha256, write_atomically
from export.onnx import FP32_OPS, INPUT_NAME, OUTPUT_NAME, style_onnx

log = logging.getLogger(__name__)
WORKSPACE_BYTES = 1 << 30


@dataclass(frozen=True)
class ShapeProfile:
    """Frame sizes (height, width) the engine accepts: min..max, tuned for opt."""

    min_hw: tuple[int, int] = (360, 640)
    opt_hw: tuple[int, int] = (1080, 1920)
    max_hw: tuple[int, int] = (1080, 1920)

    def __post_init__(self) -> None:
        for axis in (0, 1):
            if not self.min_hw[axis] <= self.opt_hw[axis] <= self.max_hw[axis]:
                raise UserError(f"shape profile must satisfy min <= opt <= max per axis, got {self.describe()}")

    def describe(self) -> str:
        return " / ".join(f"{h}x{w}" for h, w in (self.min_hw, self.opt_hw, self.max_hw)) + " (HxW min/opt/max)"

    def contains(self, hw: tuple[int, int]) -> bool:
        return all(self.min_hw[a] <= hw[a] <= self.max_hw[a] for a in (0, 1))

    def fit(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The size, keeping the aspect ratio as far as possible, that a frame of `hw` is resized to."""
        if self.contains(hw):
            return hw
        scale = min(1.0, *(self.max_hw[a] / hw[a] for a in (0, 1)))
        scale = max(scale, *(self.min_hw[a] / hw[a] for a in (0, 1)))
        return tuple(min(max(round(hw[a] * scale), self.min_hw[a]), self.max_hw[a]) for a in (0, 1))


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT can run here, else why not (one sentence)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt Python package is not installed (pip install .[tensorrt])"
    except Exception as exc:  # a broken install (missing libnvinfer) must not crash the product
        return f"tensorrt failed to import ({exc})"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to PyTorch"
    major, minor = torch.cuda.get_device_capability()
    if major < 7 and not (major == 6 and minor >= 1):
        return f"GPU compute capability {major}.{minor} is older than TensorRT supports"
    return None


def require_tensorrt():
    """Import tensorrt or raise a UserError saying why it cannot be used here."""
    reason = tensorrt_unavailable_reason()
    if reason:
        raise UserError(f"TensorRT backend unavailable: {reason}")
    import tensorrt as trt

    return trt


def _strongly_typed_flag(trt) -> int:
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _pin_fp32_layers(trt, network, config) -> None:
    """TensorRT 8.6 only (no strong typing): FP16 flag, FP32_OPS layers pinned to FP32."""
    config.set_flag(trt.BuilderFlag.FP16)
    config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    kinds = {trt.LayerType.REDUCE, trt.LayerType.SOFTMAX, trt.LayerType.UNARY}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.type in kinds or any(op in layer.name for op in FP32_OPS):
            layer.precision = trt.float32
            for out in range(layer.num_outputs):
                layer.set_output_type(out, trt.float32)


def build_engine(onnx_path: Path, profile: ShapeProfile, fp16: bool, timing_cache: Path | None = None) -> bytes:
    """Parse `onnx_path` and build a serialized engine for batch 1 and the frame sizes in `profile`.

    `fp16`: the ONNX is the mixed-precision one (strongly typed build) or, on TensorRT 8.6, an
    FP32 graph built with the FP16 flag and FP32 pins. Without it, the engine is all FP32 (the
    reference the FP16 engine is checked against).
    """
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly_typed = _strongly_typed_flag(trt)
    network = builder.create_network(strongly_typed)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16 and not strongly_typed:
        _pin_fp32_layers(trt, network, config)
    if not fp16 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # the FP32 reference must be real FP32
    shapes = builder.create_optimization_profile()
    shapes.set_shape(INPUT_NAME, (1, 3, *profile.min_hw), (1, 3, *profile.opt_hw), (1, 3, *profile.max_hw))
    config.add_optimization_profile(shapes)
    if timing_cache is not None:
        previous = timing_cache.read_bytes() if timing_cache.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(previous), False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see the log above)")
    if timing_cache is not None:
        cache_bytes = memoryview(config.get_timing_cache().serialize())
        write_atomically(timing_cache, lambda tmp: tmp.write_bytes(cache_bytes))
    return bytes(serialized)


def engine_key(onnx_path: Path, profile: ShapeProfile, fp16: bool) -> str:
    """Everything an engine's bytes depend on: the graph, the GPU, TensorRT, the shapes, the precision."""
    import tensorrt as trt

    return cache_key(file_sha256(onnx_path), torch.cuda.get_device_name(), trt.__version__,
                     profile.min_hw, profile.opt_hw, profile.max_hw, "fp16" if fp16 else "fp32")


def cached_engine(style: str | Path, profile: ShapeProfile = ShapeProfile(), fp16: bool = True) -> Path:
    """The engine file of a style, built once (progress in the log) and then read from the cache."""
    trt = require_tensorrt()
    onnx_path, info = style_onnx(style, "fp16" if fp16 and _strongly_typed_flag(trt) else "fp32")
    path = cache_dir("engines") / f"{info.name}-{engine_key(onnx_path, profile, fp16)}.engine"
    if path.is_file():
        return path
    gpu = torch.cuda.get_device_name().replace(" ", "_").replace("/", "_")
    timing = cache_dir("engines") / f"timing-{gpu}-trt{trt.__version__}.cache"
    log.info("building TensorRT %s engine for '%s' on %s, %s (once; a minute or two)",
             "FP16" if fp16 else "FP32", info.name, torch.cuda.get_device_name(), profile.describe())
    engine = build_engine(onnx_path, profile, fp16, timing)
    return write_atomically(path, lambda tmp: tmp.write_bytes(engine))


class TensorRTEngine:
    """A deserialized engine that runs 1x3xHxW float32 CUDA tensors on the current torch stream."""

    def __init__(self, engine_path: Path):
        trt = require_tensorrt()
        self._logger = trt.Logger(trt.Logger.WARNING)  # must outlive the runtime that logs to it
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise UserError(f"{engine_path}: not a TensorRT engine for this GPU/TensorRT version (delete it to rebuild)")
        self.context = self.engine.create_execution_context()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous().float()
        self.context.set_input_shape(INPUT_NAME, tuple(x.shape))
        y = torch.empty(tuple(self.context.get_tensor_shape(OUTPUT_NAME)), dtype=torch.float32, device=x.device)
        self.context.set_tensor_address(INPUT_NAME, x.data_ptr())
        self.context.set_tensor_address(OUTPUT_NAME, y.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return y


def fp16_report(style: str | Path, profile: ShapeProfile = ShapeProfile(), seed: int = 0) -> dict[str, float]:
    """FP16 engine vs FP32 engine on one random frame at the profile's opt size: max abs error, PSNR (dB)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, *profile.opt_hw, generator=generator).cuda()
    with torch.inference_mode():
        y16 = TensorRTEngine(cached_engine(style, profile, fp16=True))(x)
        y32 = TensorRTEngine(cached_engine(style, profile, fp16=False))(x)
    torch.cuda.synchronize()
    mse = float(torch.mean((y16 - y32) ** 2))
    psnr = float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(1.0 / mse)).item()
    return {"max_abs_error": float((y16 - y32).abs().max()), "psnr_db": psnr}
