"""Mouth shape from MediaPipe's 468-point face mesh (Apache-2.0, 1.2 MB, from the mediapipe 0.10.14 wheel like
the other models; see blazeface.py), run by LiteRT on a square around each BlazeFace face, turned so the eyes
are level, as mediapipe/modules/face_landmark does.

The Haar smile cascade fires on any mouth showing teeth: a worried face talking (Megamind.avi at 9 s) counted
as a smile. A smile also widens the mouth and lifts its corners above the middle of the lips; measured in eye
widths (outer eye corner to outer eye corner), smiles on the labelled set have a mouth 0.66-0.72 wide with
corners 0.08-0.09 up, the talking face 0.50 and 0.03.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np

from realtime.captioner.blazeface import Detection, find_model

MESH_MODEL = "face_landmark.tflite"
MESH_SIZE = 192
ROI_SCALE = 1.5  # BlazeFace box -> the mesh model's square, as MediaPipe's face landmark graph does
SMILE_WIDTH, SMILE_LIFT = 0.6, 0.05  # mouth width and corner lift, in eye widths
MOUTH_CORNERS, LIPS_MIDDLE, EYE_CORNERS = (61, 291), (13, 14), (33, 263)  # mesh point numbers


class FaceMesh:
    """`mesh(rgb, face) -> 468x2 points` in the face's upright square (eyes level), or None if it is no face."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._points, self._face = outputs["conv2d_21"], outputs["conv2d_31"]

    def __call__(self, rgb: np.ndarray, face: Detection) -> np.ndarray | None:
        right_eye, left_eye = face.keypoints[0], face.keypoints[1]
        angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
        along_x, along_y = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
        centre = np.array([face.box.x + face.box.w / 2, face.box.y + face.box.h / 2])
        half = ROI_SCALE * max(face.box.w, face.box.h) / 2
        corners = np.float32([centre - half * (along_x + along_y), centre + half * (along_x - along_y),
                              centre + half * (along_y - along_x)])
        square = cv2.getAffineTransform(corners, np.float32([[0, 0], [MESH_SIZE, 0], [0, MESH_SIZE]]))
        crop = cv2.warpAffine(rgb, square, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR)
        self._interpreter.set_tensor(self._input, (crop.astype(np.float32) / 255.0)[None])
        self._interpreter.invoke()
        if float(self._interpreter.get_tensor(self._face).ravel()[0]) < 0.0:  # a logit: below 0, less than 50%
            return None
        return self._interpreter.get_tensor(self._points).reshape(468, 3)[:, :2]


@functools.lru_cache(maxsize=None)
def load_face_mesh() -> FaceMesh | None:
    """The face mesh model, or None when its file or the LiteRT runtime is not installed."""
    path = find_model(MESH_MODEL)
    if path is None:
        return None
    try:
        return FaceMesh(path)
    except (ImportError, ValueError, RuntimeError, KeyError):
        return None


def smile_shape(rgb: np.ndarray, face: Detection) -> bool | None:
    """Whether the mouth has a smile's shape (wide, corners up); None when the mesh model is not installed."""
    mesh = load_face_mesh()
    if mesh is None:
        return None
    points = mesh(rgb, face)
    if points is None:
        return False
    eyes = float(np.linalg.norm(points[EYE_CORNERS[1]] - points[EYE_CORNERS[0]]))
    width = float(np.linalg.norm(points[MOUTH_CORNERS[1]] - points[MOUTH_CORNERS[0]])) / eyes
    lift = float(points[list(LIPS_MIDDLE), 1].mean() - points[list(MOUTH_CORNERS), 1].mean()) / eyes
    return width >= SMILE_WIDTH and lift >= SMILE_LIFT
