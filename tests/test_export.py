"""ONNX export (parity with PyTorch, dynamic sizes, cache, FP16 graph) and TensorRT engines (GPU only)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

import stream
from common.errors import UserError
from export.onnx import (ExportCheckError, check_onnx, export_onnx, max_abs_error, ort_session, style_onnx)
from export.tensorrt import ShapeProfile, tensorrt_unavailable_reason
from training.checkpoint import load_style, save_style
from training.model import StyleNetwork

NO_TENSORRT = tensorrt_unavailable_reason()


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Exports go to a cache shared by this test session, never the user's ~/.cache."""
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path_factory.getbasetemp() / "stylecast-cache"))


def test_onnx_matches_pytorch_at_another_size_and_batch(tiny_style, tmp_path):
    model, _ = load_style(tiny_style)
    path = export_onnx(model, tmp_path / "tiny.onnx", sample_hw=(64, 96))
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in onnx.load(str(path)).graph.input}
    assert inputs == {"frames": ["batch", 3, "height", "width"]}

    # Exported at 64x96; run at 37x53 (not a multiple of 8: exercises the traced padding) with batch 2.
    frames = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    got = ort_session(path).run(None, {"frames": frames.numpy()})[0]
    with torch.inference_mode():
        expected = model(frames).numpy()
    assert got.shape == (2, 3, 37, 53)
    assert np.abs(got - expected).max() < 1e-4
    assert check_onnx(model, path, hw=(40, 72)) < 1e-4


def test_check_fails_loudly_when_graph_and_model_differ(tiny_style, tmp_path):
    model, _ = load_style(tiny_style)
    path = export_onnx(model, tmp_path / "tiny.onnx")
    with torch.no_grad():
        model.output[-1].bias += 0.5  # the checkpoint changed after export
    with pytest.raises(ExportCheckError, match="differs from PyTorch"):
        check_onnx(model, path)


def test_style_onnx_is_cached_per_weights(tiny_style, tmp_path):
    first, info = style_onnx(tiny_style)
    stamp = first.stat().st_ino  # a re-export writes a new file (write_atomically); a hit only marks it used
    again, _ = style_onnx(tiny_style)
    assert again == first and again.stat().st_ino == stamp  # second start: no re-export
    torch.manual_seed(5)
    other = save_style(StyleNetwork(**info.architecture), tmp_path / "tiny.safetensors", name="tiny")
    assert style_onnx(other)[0] != first  # same name, new weights -> new file


def test_mixed_fp16_graph_keeps_norms_in_fp32_and_stays_close(tiny_style):
    path, _ = style_onnx(tiny_style, "fp16")
    graph = onnx.load(str(path)).graph
    types = {init.data_type for init in graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types  # weights really are FP16
    casts_to_fp32 = {n.output[0] for n in graph.node
                     if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.FLOAT}
    reductions = [n for n in graph.node if n.op_type in ("ReduceMean", "Softmax")]
    assert reductions and all(n.input[0] in casts_to_fp32 for n in reductions)
    model, _ = load_style(tiny_style)
    error = max_abs_error(model, path, (48, 64))
    assert 0 < error < 0.02  # FP16 rounding is visible, but far below one uint8 level's worth of drift


def test_export_command_writes_checked_onnx(tiny_style, tmp_path, capsys):
    out = tmp_path / "exported.onnx"
    assert stream.main(["export", "--style", str(tiny_style), "--out", str(out), "--check-size", "96x64"]) == 0
    printed = capsys.readouterr().out
    assert "max abs error" in printed and out.is_file()
    assert ort_session(out).run(None, {"frames": np.zeros((1, 3, 20, 30), np.float32)})[0].shape == (1, 3, 20, 30)


def test_shape_profile_fits_frames_into_range():
    profile = ShapeProfile((360, 640), (1080, 1920), (1080, 1920))
    assert profile.fit((720, 1280)) == (720, 1280)
    assert profile.fit((2160, 3840)) == (1080, 1920)  # 4K -> 1080p, same aspect
    assert profile.fit((180, 320)) == (360, 640)
    with pytest.raises(UserError):
        ShapeProfile((720, 1280), (360, 640), (1080, 1920))


@pytest.mark.skipif(NO_TENSORRT is None, reason="TensorRT is available here: the error path does not apply")
def test_tensorrt_export_without_tensorrt_is_a_one_line_error(tiny_style, capsys):
    assert stream.main(["export", "--style", str(tiny_style), "--format", "tensorrt"]) == 2
    assert "TensorRT backend unavailable" in capsys.readouterr().err


@pytest.mark.skipif(NO_TENSORRT is not None, reason=f"TensorRT cannot run here: {NO_TENSORRT}")
def test_tensorrt_fp16_engine_close_to_fp32_and_cached(tiny_style):
    from export.tensorrt import TensorRTEngine, cached_engine, fp16_report

    profile = ShapeProfile((64, 64), (256, 256), (512, 512))
    engine = cached_engine(tiny_style, profile, fp16=True)
    stamp = engine.stat().st_mtime_ns
    assert cached_engine(tiny_style, profile, fp16=True) == engine and engine.stat().st_mtime_ns == stamp
    report = fp16_report(tiny_style, profile)
    assert report["psnr_db"] > 40.0, report
    model, _ = load_style(tiny_style, "cuda")
    x = torch.rand(1, 3, 200, 300, device="cuda")  # inside the profile, not the opt size
    with torch.inference_mode():
        error = (TensorRTEngine(engine)(x) - model(x)).abs().max().item()
    assert error < 0.02


def test_a_live_style_is_written_into_the_template_without_tracing(tmp_path, monkeypatch):
    """Beside a running frame loop a new style's ONNX file is its weights dropped into the architecture's template
    (tracing holds the GIL for ~0.4 s: a frozen frame). Its output is the network's, as a traced export's is."""
    from export.backends import OnnxCPUStylizer
    from export.onnx import export_by_template, template_onnx

    real_export, traced = torch.onnx.export, []

    def export(*args, **kwargs):
        traced.append(kwargs.get("do_constant_folding"))
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", export)
    torch.manual_seed(3)
    first, second = (StyleNetwork(base_channels=8, dim=16, depth=1, heads=2, detail=50).eval() for _ in range(2))
    template = template_onnx(first)  # traced once for this architecture
    assert template_onnx(second) == template and len(traced) == 1
    written = export_by_template(second, tmp_path / "second.onnx")
    assert check_onnx(second, written, hw=(37, 53)) < 1e-4 and len(traced) == 1
    # the frame loop's path: the first style opens as at startup (traced), prepare() writes the next one from the
    # template and opens its session, load_style() swaps it in
    stylizer = OnnxCPUStylizer(save_style(first, tmp_path / "first.safetensors", name="first"))
    before = len(traced)
    checkpoint = save_style(second, tmp_path / "second.safetensors", name="second")
    assert stylizer.load_style(stylizer.prepare(checkpoint)).name == "second" and len(traced) == before
    frame = (np.random.default_rng(0).random((40, 64, 3)) * 255).astype(np.uint8)
    with torch.inference_mode():
        expected = second(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy()
    assert np.abs(stylizer(frame).astype(np.float32) / 255 - expected).max() < 2 / 255
