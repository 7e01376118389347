#!/usr/bin/env python3
"""Make docs/styles.jpg: columns = original + each shipped style; first row = the style images; then real
photos (scikit-image's bundled ones); last row = the clear sky of the rocket photo, cut from each styled
whole photo, at 3x zoom (nearest), where a dot grid or a lattice would show.

Usage: python scripts/contact_sheet.py [--out docs/styles.jpg] [--height 200]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.checkpoint import list_styles, load_style  # noqa: E402
from training.data import read_image, skimage_photo_paths  # noqa: E402
from training.train import stylize_image  # noqa: E402

SHEET_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")


def sheet_photos(height: int) -> list[np.ndarray]:
    """The fixed photo set, each scaled to `height` px tall (width a multiple of 8)."""
    photos = []
    for path in skimage_photo_paths():
        if path.name in SHEET_PHOTOS:
            image = read_image(path)
            width = int(round(image.shape[1] * height / image.shape[0] / 8)) * 8
            photos.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    return photos


def style_thumbnail(info, height: int) -> np.ndarray:
    """The style's source image, centre-cropped square, `height` px."""
    from bench.quality import style_source

    image = style_source(info)[1]
    if image is None:
        return np.full((height, height, 3), 200, np.uint8)
    side = min(image.shape[:2])
    y, x = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return cv2.resize(image[y:y + side, x:x + side], (height, height), interpolation=cv2.INTER_AREA)


def sky_rows(height: int, styles) -> list[np.ndarray]:
    """The rocket photo's clear sky, cut from the photo and from each style's output of the WHOLE photo
    (as a user sees it: no extra borders), shown at 3x with nearest-neighbour zoom."""
    from bench.quality import sky_patch

    rocket = next((read_image(p) for p in skimage_photo_paths() if p.name == "rocket.jpg"), None)
    if rocket is None:
        return []
    rocket = cv2.resize(rocket, (round(rocket.shape[1] * 384 / rocket.shape[0]), 384), interpolation=cv2.INTER_AREA)
    cells = [label(zoom(sky_patch(rocket), height), "sky, 3x")]
    cells += [label(zoom(sky_patch(stylize_image(model, rocket)), height), info.name) for model, info in styles]
    return cells


def zoom(image: np.ndarray, height: int) -> np.ndarray:
    return cv2.resize(image, (height, height), interpolation=cv2.INTER_NEAREST)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/styles.jpg"))
    parser.add_argument("--height", type=int, default=200, help="row height in px")
    args = parser.parse_args()
    photos = sheet_photos(args.height)
    styles = [load_style(info.weights_path) for info in list_styles()]
    rows = [[label(np.full((args.height, args.height, 3), 255, np.uint8), "style image")]
            + [label(style_thumbnail(info, args.height), info.name) for _, info in styles]]
    for photo in photos:
        cells = [label(photo, "original")]
        cells += [label(stylize_image(model, photo), info.name) for model, info in styles]
        rows.append(cells)
    sky = sky_rows(args.height, styles)
    if sky:
        rows.append(sky)
    width = max(photo.shape[1] for photo in photos)
    padded = [[cv2.copyMakeBorder(c, 2, 2, 2, 2 + width - c.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
               for c in row] for row in rows]
    sheet = np.vstack([np.hstack(row) for row in padded])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # JPEG at quality 92: a 7-column sheet of photos is ~5 MB as PNG and looks the same
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9, cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"{args.out}: {len(photos)} photos x {len(styles)} styles")


if __name__ == "__main__":
    main()
