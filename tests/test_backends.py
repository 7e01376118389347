"""Backends: auto selection, agreement with the PyTorch reference, strength, live style switch, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import UserError
from export.backends import (BACKENDS, TorchCPUStylizer, available_backends, create_stylizer, unavailable_reason)
from training.checkpoint import save_style
from training.model import StyleNetwork

NO_CUDA = unavailable_reason("pytorch-cuda")
NO_TENSORRT = unavailable_reason("tensorrt")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Exports go to a cache shared by this test session, never the user's ~/.cache."""
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path_factory.getbasetemp() / "stylecast-cache"))


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A 45x70 RGB frame (odd size: exercises the padding) with smooth gradients and noise."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:45, 0:70]
    image = np.stack([x * 3.6, y * 5.6, (x + y) * 2.2], axis=-1) + rng.normal(0, 12, (45, 70, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def other_style(tmp_path_factory) -> str:
    torch.manual_seed(11)
    model = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2)
    return str(save_style(model, tmp_path_factory.mktemp("other") / "other.safetensors", name="other"))


def test_auto_picks_the_fastest_available_and_says_so(tiny_style, caplog):
    caplog.set_level("INFO", logger="export.backends")
    stylizer = create_stylizer(tiny_style, "auto")
    assert stylizer.name == available_backends()[0]
    if NO_CUDA and NO_TENSORRT:
        assert stylizer.name == "onnx-cpu"  # ORT beats plain PyTorch and, live, OpenVINO (see bench/results)
    assert f"backend: {stylizer.name}" in caplog.text


@pytest.mark.parametrize("backend", ["onnx-cpu", "openvino-cpu", "pytorch-cuda", "tensorrt"])
def test_backend_agrees_with_pytorch_reference(backend, tiny_style, frame):
    if unavailable_reason(backend):
        pytest.skip(f"{backend} cannot run here: {unavailable_reason(backend)}")
    reference = TorchCPUStylizer(tiny_style)(frame)
    got = create_stylizer(tiny_style, backend)(frame)
    assert got.shape == frame.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - reference)
    tolerance = 1 if backend in ("onnx-cpu", "openvino-cpu") else 4  # FP32 rounding vs FP16 arithmetic
    assert diff.max() <= tolerance and diff.mean() < 0.5
    assert np.abs(reference.astype(int) - frame).mean() > 5  # the style really changed the frame


@pytest.mark.parametrize("backend", ["onnx-cpu", "openvino-cpu", "pytorch-cpu"])
def test_strength_blends_with_the_original(backend, tiny_style, frame):
    if unavailable_reason(backend):
        pytest.skip(f"{backend} cannot run here: {unavailable_reason(backend)}")
    stylizer = create_stylizer(tiny_style, backend)
    full = stylizer(frame, 1.0).astype(float)
    assert np.array_equal(stylizer(frame, 0.0), frame)
    half = stylizer(frame, 0.5).astype(float)
    assert np.abs(half - (frame + full) / 2).max() <= 1.0
    assert np.array_equal(stylizer(frame, 7.0), stylizer(frame, 1.0))  # clamped to 0..1


@pytest.mark.parametrize("backend", ["onnx-cpu", "openvino-cpu", "pytorch-cpu"])
def test_load_style_switches_the_output_live(backend, tiny_style, other_style, frame):
    if unavailable_reason(backend):
        pytest.skip(f"{backend} cannot run here: {unavailable_reason(backend)}")
    stylizer = create_stylizer(tiny_style, backend)
    before = stylizer(frame)
    assert stylizer.load_style(other_style).name == "other" and stylizer.info.name == "other"
    switched = stylizer(frame)
    assert np.abs(switched.astype(int) - before).mean() > 3
    stylizer.load_style(tiny_style)
    assert np.array_equal(stylizer(frame), before)


def test_unavailable_or_unknown_backend_is_a_user_error(tiny_style):
    with pytest.raises(UserError, match="unknown backend"):
        create_stylizer(tiny_style, "cuda-magic")
    with pytest.raises(UserError, match="unknown style"):
        create_stylizer("no-such-style", "auto")
    missing = [name for name in BACKENDS[1:] if unavailable_reason(name)]
    for name in missing:
        with pytest.raises(UserError, match=f"backend '{name}' is not available here"):
            create_stylizer(tiny_style, name)


def test_bad_frames_are_rejected(tiny_style):
    stylizer = create_stylizer(tiny_style, "pytorch-cpu")
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        stylizer(np.zeros((10, 10, 3), np.float32))


@pytest.mark.skipif(NO_CUDA is not None, reason=f"no CUDA here: {NO_CUDA}")
@pytest.mark.parametrize("backend", ["pytorch-cuda", "tensorrt"])
def test_stylize_tensor_stays_on_the_gpu(backend, tiny_style, frame):
    if unavailable_reason(backend):
        pytest.skip(f"{backend} cannot run here: {unavailable_reason(backend)}")
    stylizer = create_stylizer(tiny_style, backend)
    on_gpu = torch.from_numpy(frame).cuda()
    out = stylizer.stylize_tensor(on_gpu, 1.0)
    assert out.is_cuda and out.dtype == torch.uint8 and out.shape == on_gpu.shape
    assert np.abs(out.cpu().numpy().astype(int) - stylizer(frame)).max() <= 1
    half = stylizer.stylize_tensor(on_gpu, 0.5).cpu().numpy().astype(float)
    assert np.abs(half - (frame + out.cpu().numpy()) / 2).max() <= 1.5


@pytest.mark.parametrize("backend, provider", [("onnx-coreml", "CoreMLExecutionProvider"),
                                               ("onnx-directml", "DmlExecutionProvider")])
def test_execution_providers_are_offered_only_when_onnxruntime_has_them(backend, provider, monkeypatch):
    import onnxruntime

    real = onnxruntime.get_available_providers()
    reason = unavailable_reason(backend)
    assert (reason is None) == (provider in real)
    if reason:
        assert provider in reason and backend not in available_backends()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [provider, *real])
    assert unavailable_reason(backend) is None and backend in available_backends()
