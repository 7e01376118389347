"""Inference backends behind one small interface, and the one place that picks a backend.

Frames are HxWx3 uint8 RGB numpy arrays in and out. `strength` blends the stylized frame with
the original (0 = original, 1 = fully stylized), done where the data already is.

Backends, fastest first (the order `auto` tries):
- tensorrt:      TensorRT FP16 engine (cached on disk), NVIDIA GPUs, `pip install .[tensorrt]`;
- pytorch-cuda:  PyTorch FP16 autocast, one CUDA graph per frame size;
- onnx-coreml:   ONNX Runtime's CoreML provider (macOS: Apple GPU / Neural Engine), when the installed
                 onnxruntime has it;
- onnx-directml: ONNX Runtime's DirectML provider (Windows: any DirectX 12 GPU), `pip install onnxruntime-directml`;
- onnx-cpu:      ONNX Runtime on the CPU (the ONNX file is exported once per style and cached);
- openvino-cpu:  OpenVINO on the CPU, the same ONNX file (1.15-1.26x less CPU time per frame than ONNX Runtime
                 here, bench/results/cpu_engines.md), but seconds of compiling per new frame size;
- pytorch-cpu:   plain PyTorch, always available, the reference the others are checked against.
GPU backends also offer `stylize_tensor(frame_cuda_uint8, strength)`, which never leaves the GPU.
Any backend can run at a lower internal resolution (`render_scale`, export/render_scale.py).
CPU threads are decided in common/threads.py, for every engine.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from common.errors import UserError
from export.preprocess import (array_to_frame, check_frame, frame_to_array, frame_to_tensor, resize_tensor,
                               tensor_to_frame)
from training.checkpoint import StyleInfo, load_style, read_style_info, resolve_style

BACKENDS = ("auto", "tensorrt", "pytorch-cuda", "onnx-coreml", "onnx-directml", "onnx-cpu", "openvino-cpu",
            "pytorch-cpu")
# openvino-cpu is faster per frame but compiles every new frame size for seconds at first use: a live stream
# (and `--render-scale auto`, which changes the size) would stall and drop frames, so `auto` prefers onnx-cpu.
AUTO_ORDER = BACKENDS[1:]

log = logging.getLogger(__name__)


class Stylizer(ABC):
    """Stylizes one frame at a time; `load_style` swaps the style without rebuilding the stream."""

    name: str = "?"
    info: StyleInfo

    @abstractmethod
    def load_style(self, style: str | Path) -> StyleInfo:
        """Switch to another style (shipped name or checkpoint path)."""

    @property
    def innermost(self) -> Stylizer:
        """The stylizer that runs the network: itself, or what a wrapper (a render scale) wraps."""
        return self

    def prepare(self, style: str | Path) -> Path:
        """The slow part of a style switch, done before it so the frame loop never waits on it: a picture or
        blend becomes a checkpoint, and backends that run an exported file export it. Returns the checkpoint
        to give `load_style`."""
        return resolve_style(style)

    @abstractmethod
    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """frame: HxWx3 uint8 RGB -> HxWx3 uint8 RGB of the same size."""


def clamp_strength(strength: float) -> float:
    return min(1.0, max(0.0, float(strength)))


class TorchCPUStylizer(Stylizer):
    """Plain PyTorch on the CPU: always available, the reference the others are checked against."""

    name = "pytorch-cpu"

    def __init__(self, style: str | Path):
        self.load_style(style)

    def load_style(self, style: str | Path) -> StyleInfo:
        from common.threads import set_torch_threads

        set_torch_threads()
        self.model, self.info = load_style(style, "cpu")
        return self.info

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        check_frame(frame)
        strength = clamp_strength(strength)
        x = frame_to_tensor(torch.from_numpy(np.ascontiguousarray(frame)))
        y = self.model(x)
        return tensor_to_frame(y, x if strength < 1.0 else None, strength).numpy()


class OnnxCPUStylizer(Stylizer):
    """ONNX Runtime on the CPU: the exported graph (cached per weights hash) with ORT's fused kernels."""

    name = "onnx-cpu"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    def __init__(self, style: str | Path):
        self._planar: np.ndarray | None = None  # 1x3xHxW float32 input, reused while the size holds
        self._prepared: tuple[Path, object, StyleInfo] | None = None  # (checkpoint, session, info) from prepare
        self.load_style(style)

    def prepare(self, style: str | Path) -> Path:
        """Export (once, cached, from the template: no tracing) and open the session here, beside the frame loop:
        opening it optimises the graph for tens of ms, which load_style would otherwise do between two frames."""
        path = resolve_style(style)
        self._prepared = (path, *self._open(path, live=True))
        return path

    def load_style(self, style: str | Path) -> StyleInfo:
        from export.onnx import INPUT_NAME

        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == style:
            _, session, info = prepared
        else:
            session, info = self._open(style)
        self.session, self.info, self._input = session, info, INPUT_NAME
        return self.info

    def _open(self, style: str | Path, live: bool = False) -> tuple[object, StyleInfo]:
        """`live`: beside a running frame loop, so the file must not be traced (export.onnx.template_onnx)."""
        from export.onnx import ort_session, style_onnx

        path, info = style_onnx(style, "fp32", live=live)
        return ort_session(path, providers=self.providers), info

    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        check_frame(frame)
        strength = clamp_strength(strength)
        self._planar = x = frame_to_array(frame, out=self._planar)
        y = self.session.run(None, {self._input: x})[0]
        return array_to_frame(y, x if strength < 1.0 else None, strength)


class OnnxCoreMLStylizer(OnnxCPUStylizer):
    """ONNX Runtime with the CoreML provider (macOS); ops CoreML cannot run fall back to the CPU."""

    name = "onnx-coreml"
    providers = ("CoreMLExecutionProvider", "CPUExecutionProvider")


class OnnxDirectMLStylizer(OnnxCPUStylizer):
    """ONNX Runtime with the DirectML provider (Windows, DirectX 12 GPUs)."""

    name = "onnx-directml"
    providers = ("DmlExecutionProvider", "CPUExecutionProvider")


class OpenVinoStylizer(Stylizer):
    """OpenVINO on the CPU, compiled once per frame size: its dynamic-shape path was 80x slower at 720p."""

    name = "openvino-cpu"
    MAX_SIZES = 6  # compiled sizes kept (render scale `auto` uses up to 5 per camera size)

    def __init__(self, style: str | Path):
        import openvino

        self._core = openvino.Core()
        self._planar: np.ndarray | None = None
        self.load_style(style)

    prepare = OnnxCPUStylizer.prepare  # the same exported file

    def load_style(self, style: str | Path) -> StyleInfo:
        from export.onnx import style_onnx

        path, self.info = style_onnx(style, "fp32")
        self._model = self._core.read_model(str(path))
        self._requests: OrderedDict[tuple[int, int], object] = OrderedDict()
        return self.info

    def _request(self, hw: tuple[int, int]):
        from common.threads import openvino_config
        from export.onnx import INPUT_NAME

        if hw not in self._requests:
            model = self._model.clone()
            model.reshape({INPUT_NAME: [1, 3, *hw]})
            # FP32 even where the CPU offers bf16: the output must match the other backends
            config = dict(openvino_config(), INFERENCE_PRECISION_HINT="f32")
            self._requests[hw] = self._core.compile_model(model, "CPU", config).create_infer_request()
            if len(self._requests) > self.MAX_SIZES:
                self._requests.popitem(last=False)
        self._requests.move_to_end(hw)
        return self._requests[hw]

    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        check_frame(frame)
        strength = clamp_strength(strength)
        self._planar = x = frame_to_array(frame, out=self._planar)
        y = self._request(frame.shape[:2]).infer({0: x})[0]
        return array_to_frame(y, x if strength < 1.0 else None, strength)


class CudaStylizer(Stylizer):
    """Shared GPU path: uint8 frames go up (pinned, async), everything else happens on the GPU.

    Per frame only H*W*3 bytes cross PCIe each way; conversion to float, optional resizing,
    the model, blending and rounding back to uint8 all run on the device.
    """

    def __init__(self, style: str | Path):
        self.device = torch.device("cuda")
        self._host: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.load_style(style)

    @abstractmethod
    def _stylize_on_device(self, frame: torch.Tensor, strength: float) -> torch.Tensor:
        """HxWx3 uint8 CUDA -> HxWx3 uint8 CUDA (may be an internal buffer, valid until the next call)."""

    @torch.inference_mode()
    def stylize_tensor(self, frame: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """HxWx3 uint8 RGB CUDA tensor -> new HxWx3 uint8 CUDA tensor: for callers that keep data on the GPU."""
        check_frame(frame)
        return self._stylize_on_device(frame.to(self.device), clamp_strength(strength)).clone()

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        check_frame(frame)
        hw = frame.shape[:2]
        if hw not in self._host:  # page-locked buffers: async DMA, allocated once per frame size
            self._host = {hw: tuple(torch.empty((*hw, 3), dtype=torch.uint8, pin_memory=True) for _ in range(2))}
        upload, download = self._host[hw]
        upload.numpy()[...] = frame
        result = self._stylize_on_device(upload.to(self.device, non_blocking=True), clamp_strength(strength))
        download.copy_(result, non_blocking=True)
        torch.cuda.current_stream().synchronize()
        return download.numpy().copy()


class TorchCUDAStylizer(CudaStylizer):
    """PyTorch with FP16 autocast; each frame size is captured once as a CUDA graph and replayed.

    Autocast (not `.half()`) keeps the LayerNorm variance and the softmaxes in FP32. A CUDA graph
    turns ~100 small kernel launches into one, which is what makes a 190k-parameter network fast.
    """

    name = "pytorch-cuda"
    MAX_GRAPHS = 4  # frame sizes kept captured (each holds its activations' memory)

    def load_style(self, style: str | Path) -> StyleInfo:
        self.model, self.info = load_style(style, self.device)
        self.model = self.model.to(memory_format=torch.channels_last)
        self._graphs: OrderedDict[tuple[int, int], tuple] = OrderedDict()  # weights changed: recapture
        return self.info

    def _pipeline(self, frame: torch.Tensor, strength: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        x = frame_to_tensor(frame, torch.float16).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.float16, cache_enabled=False):
            y = self.model(x)
        return tensor_to_frame(y.float(), x.float(), strength, out=out)

    def _capture(self, hw: tuple[int, int]) -> tuple:
        frame = torch.zeros((*hw, 3), dtype=torch.uint8, device=self.device)
        strength = torch.ones((), device=self.device)
        out = torch.empty_like(frame)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph (cuDNN picks its kernels here)
            for _ in range(3):
                self._pipeline(frame, strength, out)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._pipeline(frame, strength, out)
        return graph, frame, strength, out

    def _stylize_on_device(self, frame: torch.Tensor, strength: float) -> torch.Tensor:
        hw = tuple(frame.shape[:2])
        if hw not in self._graphs:
            self._graphs[hw] = self._capture(hw)
            if len(self._graphs) > self.MAX_GRAPHS:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(hw)
        graph, static_frame, static_strength, out = self._graphs[hw]
        static_frame.copy_(frame)
        static_strength.fill_(strength)
        graph.replay()
        return out


class TensorRTStylizer(CudaStylizer):
    """TensorRT FP16 engine; frames outside the engine's size profile are resized on the GPU and back."""

    name = "tensorrt"

    def __init__(self, style: str | Path, profile=None):
        from export.tensorrt import ShapeProfile, require_tensorrt

        require_tensorrt()
        self.profile = profile or ShapeProfile()
        super().__init__(style)

    def prepare(self, style: str | Path) -> Path:
        from export.tensorrt import cached_engine

        path = resolve_style(style)
        cached_engine(path, self.profile, fp16=True)  # built once (seconds to minutes), then cached on disk
        return path

    def load_style(self, style: str | Path) -> StyleInfo:
        from export.tensorrt import TensorRTEngine, cached_engine

        engine = TensorRTEngine(cached_engine(style, self.profile, fp16=True))
        self.engine, self.info = engine, read_style_info(resolve_style(style))
        return self.info

    def _stylize_on_device(self, frame: torch.Tensor, strength: float) -> torch.Tensor:
        x = frame_to_tensor(frame)
        hw = tuple(x.shape[-2:])
        y = resize_tensor(self.engine(resize_tensor(x, self.profile.fit(hw))), hw)
        return tensor_to_frame(y, x if strength < 1.0 else None, strength)


def _cuda_unavailable_reason() -> str | None:
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to PyTorch (CPU-only torch build or no driver)"
    major, _ = torch.cuda.get_device_capability()
    if major < 7:
        return f"GPU '{torch.cuda.get_device_name()}' has no fast FP16 (compute capability {major}.x < 7.0)"
    return None


def _onnxruntime_unavailable_reason(provider: str = "CPUExecutionProvider", hint: str = "") -> str | None:
    """None if onnxruntime is installed and offers `provider` (never assumed: ORT is asked)."""
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed"
    if provider not in onnxruntime.get_available_providers():
        return f"the installed onnxruntime has no {provider}{hint}"
    return None


def _openvino_unavailable_reason() -> str | None:
    try:
        import openvino
    except ImportError:
        return "openvino is not installed (pip install openvino)"
    if "CPU" not in openvino.Core().available_devices:
        return "OpenVINO finds no CPU device it supports here"
    return None


def unavailable_reason(backend: str) -> str | None:
    """None if `backend` can run on this machine, else one sentence saying why not."""
    from export.tensorrt import tensorrt_unavailable_reason

    checks: dict[str, Callable[[], str | None]] = {
        "tensorrt": tensorrt_unavailable_reason,
        "pytorch-cuda": _cuda_unavailable_reason,
        "onnx-coreml": lambda: _onnxruntime_unavailable_reason(
            "CoreMLExecutionProvider", " (macOS only; the standard onnxruntime wheel for macOS has it)"),
        "onnx-directml": lambda: _onnxruntime_unavailable_reason(
            "DmlExecutionProvider", " (Windows only: pip install onnxruntime-directml)"),
        "openvino-cpu": _openvino_unavailable_reason,
        "onnx-cpu": _onnxruntime_unavailable_reason,
        "pytorch-cpu": lambda: None,
    }
    if backend not in checks:
        raise UserError(f"unknown backend '{backend}' (choose from: {', '.join(BACKENDS)})")
    return checks[backend]()


def available_backends() -> list[str]:
    """The backends that can run here, fastest first."""
    return [name for name in AUTO_ORDER if unavailable_reason(name) is None]


_CLASSES: dict[str, type[Stylizer]] = {
    "tensorrt": TensorRTStylizer,
    "pytorch-cuda": TorchCUDAStylizer,
    "onnx-coreml": OnnxCoreMLStylizer,
    "onnx-directml": OnnxDirectMLStylizer,
    "openvino-cpu": OpenVinoStylizer,
    "onnx-cpu": OnnxCPUStylizer,
    "pytorch-cpu": TorchCPUStylizer,
}
GPU_BACKENDS = ("tensorrt", "pytorch-cuda", "onnx-coreml", "onnx-directml")


def create_stylizer(style: str | Path, backend: str = "auto", render_scale: str | float = 1.0,
                    target_fps: float | None = None) -> Stylizer:
    """The one place that picks a backend; 'auto' takes the fastest one available here (and logs which).

    A named backend that cannot run here is a UserError saying why. Under 'auto', a backend that
    fails to start (e.g. a TensorRT build error) is logged and the next one is tried.
    `render_scale`: 1 (full size), a smaller number, or 'auto' (held at `target_fps`; see render_scale.py).
    """
    from common.threads import set_opencv_threads
    from export.render_scale import DEFAULT_TARGET_FPS, parse_render_scale, with_render_scale

    parse_render_scale(render_scale)  # a bad scale is the user's error whichever backend runs: before any model loads
    style = resolve_style(style)  # ... and so is a bad style; a picture or blend becomes its checkpoint once, here
    stylizer = _create_backend(style, backend)
    if stylizer.name not in GPU_BACKENDS:
        set_opencv_threads()  # the frame loop's resizes and colour conversions must not fight the model
    return with_render_scale(stylizer, render_scale, target_fps or DEFAULT_TARGET_FPS,
                             on_gpu=stylizer.name in GPU_BACKENDS)


def _create_backend(style: str | Path, backend: str) -> Stylizer:
    if backend != "auto":
        reason = unavailable_reason(backend)
        if reason:
            raise UserError(f"backend '{backend}' is not available here: {reason} "
                            f"(available: {', '.join(available_backends())})")
        return _CLASSES[backend](style)
    candidates = available_backends()
    for name in candidates:
        try:
            stylizer = _CLASSES[name](style)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a GPU backend failing must not stop the stream
            if name == candidates[-1]:
                raise
            log.warning("backend %s failed to start (%s); trying the next one", name, exc)
            continue
        skipped = [f"{n}: {unavailable_reason(n)}" for n in AUTO_ORDER if n not in candidates]
        log.info("backend: %s (fastest available here%s)", name, f"; not available: {'; '.join(skipped)}" if skipped else "")
        return stylizer
    raise AssertionError("pytorch-cpu is always available")
