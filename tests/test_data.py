"""Content/style loading: folders recursively, video frames, bundled photos, bad files skipped."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from common.errors import UserError
from tests.training_data import write_content_folder
from training.data import RandomCrops, load_images, skimage_photo_paths, to_image, to_tensor


def test_folder_is_read_recursively_and_bad_files_are_skipped_with_a_warning(tmp_path, caplog):
    folder = write_content_folder(tmp_path, count=3, size=80)
    with caplog.at_level(logging.WARNING):
        images = load_images(folder)
    assert len(images) == 3 and all(i.shape == (80, 80, 3) and i.dtype == np.uint8 for i in images)
    assert "broken.jpg" in caplog.text


def test_video_frames_are_sampled(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for index in range(30):
        writer.write(np.full((48, 64, 3), index * 8, np.uint8))
    writer.release()
    frames = load_images(tmp_path)
    assert 10 <= len(frames) <= 24 and frames[0].shape == (48, 64, 3)
    assert frames[-1].mean() > frames[0].mean() + 100  # spread over the clip, not the first frame repeated


def test_default_content_is_the_photos_inside_scikit_image():
    paths = skimage_photo_paths()
    assert any(p.name == "astronaut.png" for p in paths)
    images = load_images(None)
    assert len(images) == len(paths) and all(min(i.shape[:2]) <= 512 and i.shape[2] == 3 for i in images)


def test_nothing_usable_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="no usable images"):
        load_images(tmp_path)
    with pytest.raises(UserError, match="no such file"):
        load_images(tmp_path / "missing")


def test_random_crops_have_the_size_and_vary():
    image = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    batch = RandomCrops([image], 32, seed=1).batch(4)
    assert batch.shape == (4, 3, 32, 32) and 0.0 <= batch.min() and batch.max() <= 1.0
    assert not np.allclose(batch[0].numpy(), batch[1].numpy())
    assert np.array_equal(to_image(to_tensor(image)), image)
