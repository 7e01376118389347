"""Mouth shape from MediaPipe's 468-point face mesh (Apache-2.0, 1.2 MB, from the mediapipe 0.10.14 wheel like
the other models; see litert.py), run by LiteRT on a square around each BlazeFace face, turned so the eyes
are level, as mediapipe/modules/face_landmark does.

The Haar smile cascade fires on any mouth showing teeth: a worried face talking (Megamind.avi at 9 s) counted
as a smile. A smile also widens the mouth and lifts its corners above the middle of the lips; measured in eye
widths (outer eye corner to outer eye corner), smiles on the labelled set have a mouth 0.66-0.72 wide with
corners 0.08-0.09 up, the talking face 0.50 and 0.03.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from realtime.captioner.blazeface import Detection
from realtime.captioner.litert import LiteRTModel, load_model, upright_square

MESH_MODEL = "face_landmark.tflite"
MESH_SIZE = 192
ROI_SCALE = 1.5  # BlazeFace box -> the mesh model's square, as MediaPipe's face landmark graph does
SMILE_WIDTH, SMILE_LIFT = 0.6, 0.05  # mouth width and corner lift, in eye widths
MOUTH_CORNERS, LIPS_MIDDLE, EYE_CORNERS = (61, 291), (13, 14), (33, 263)  # mesh point numbers


class FaceMesh(LiteRTModel):
    """`mesh(rgb, face) -> 468x2 points` in the face's upright square (eyes level), or None if it is no face."""

    def __init__(self, path: Path):
        super().__init__(path)
        self._points, self._face = self.outputs["conv2d_21"], self.outputs["conv2d_31"]

    def __call__(self, rgb: np.ndarray, face: Detection) -> np.ndarray | None:
        right_eye, left_eye = face.keypoints[0], face.keypoints[1]
        angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
        centre = np.array([face.box.x + face.box.w / 2, face.box.y + face.box.h / 2])
        square = upright_square(centre, ROI_SCALE * max(face.box.w, face.box.h), angle, MESH_SIZE)
        crop = cv2.warpAffine(rgb, square, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR)
        self.run(crop.astype(np.float32) / 255.0)
        if float(self.output(self._face).ravel()[0]) < 0.0:  # a logit: below 0, less than 50%
            return None
        return self.output(self._points).reshape(468, 3)[:, :2]


def load_face_mesh() -> FaceMesh | None:
    """The face mesh model, or None when its file or the LiteRT runtime is not installed."""
    return load_model(FaceMesh, MESH_MODEL)


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
