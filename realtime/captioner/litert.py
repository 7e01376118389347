"""Running MediaPipe's .tflite models (Apache-2.0) with the LiteRT interpreter (`ai-edge-litert`): where the
files are, one interpreter per model loaded once, and the upright square crops the landmark models look at.

The files ship inside the `mediapipe` 0.10.14 wheel; scripts/setup.sh downloads that wheel with
`pip download --no-deps` (none of mediapipe's own dependencies are installed) and copies the models into
`.venv/share/stylecast/mediapipe/`. Nothing is downloaded at run time: without a file (or the runtime) its
loader returns None and the narrator simply says nothing about what that model would have seen.
"""
from __future__ import annotations

import functools
import math
import os
import sys
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

MODEL_DIRS = [os.environ.get("STYLECAST_MEDIAPIPE", ""), str(Path(sys.prefix) / "share/stylecast/mediapipe")]


def find_model(filename: str) -> Path | None:
    """The installed copy of a MediaPipe model file, or None."""
    for folder in MODEL_DIRS:
        if folder and (Path(folder) / filename).is_file():
            return Path(folder) / filename
    return None


class LiteRTModel:
    """One .tflite model in a one-thread LiteRT interpreter (the narrator's process runs on idle CPU)."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self.output_details = self._interpreter.get_output_details()
        self.outputs = {d["name"]: d["index"] for d in self.output_details}

    def run(self, tensor: np.ndarray) -> None:
        """Invoke the model on one HxWx3 float32 input (the batch axis is added here)."""
        self._interpreter.set_tensor(self._input, tensor[None])
        self._interpreter.invoke()

    def output(self, index: int) -> np.ndarray:
        """An output of the last run, by its tensor index (see `outputs` and `output_details`)."""
        return self._interpreter.get_tensor(index)


Model = TypeVar("Model", bound=LiteRTModel)


@functools.lru_cache(maxsize=None)
def load_model(kind: type[Model], filename: str, *args: object) -> Model | None:
    """`kind(path, *args)` for the installed model file, made once; None when the file or the runtime is missing
    (or the file is not the model `kind` expects: other outputs raise KeyError)."""
    path = find_model(filename)
    if path is None:
        return None
    try:
        return kind(path, *args)
    except (ImportError, ValueError, RuntimeError, KeyError):
        return None


def upright_square(centre: np.ndarray, side: float, angle: float, size: int) -> np.ndarray:
    """2x3 affine matrix from the image to a `size` px square of `side` px around `centre`, turned by `angle`
    (radians, image axes) so that what lies along that angle comes out level: a hand pointing up, eyes level."""
    along_x = np.array([math.cos(angle), math.sin(angle)])
    along_y = np.array([-math.sin(angle), math.cos(angle)])
    half = side / 2
    corners = np.float32([centre - half * (along_x + along_y), centre + half * (along_x - along_y),
                          centre + half * (along_y - along_x)])
    return cv2.getAffineTransform(corners, np.float32([[0, 0], [size, 0], [0, size]]))
