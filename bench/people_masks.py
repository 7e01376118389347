#!/usr/bin/env python3
"""Hand-drawn person outlines for real photos, the ground truth for the person/background mask.

Why: "style only the background / only the person" stands or falls with the selfie-segmentation mask,
and its accuracy can only be judged against outlines that owe nothing to any model. Each person in
bench/people_masks.json was traced by hand as a polygon in the photo's own pixel coordinates (no
segmentation, detection, GrabCut or edge snapping was used); the photos come from Debian packages and
scikit-image (scripts/people_photos.sh puts them in data/people).

Rasterised with cv2.fillPoly: every "people" polygon is filled, "holes" (background seen between an
arm and the body, held objects in front of the person) are cleared, "ignore" polygons (blurred crowds,
tiny or dim background people, people in posters, transparent glasses, ambiguous bits) form a separate
mask for a scorer to leave out; ignore never removes a drawn person's pixels.

Usage: python bench/people_masks.py [--photos data/people] --sheet /tmp/masks.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MASKS_JSON = Path(__file__).with_name("people_masks.json")


def _fill(shape: tuple[int, int], polygons: list[list[list[int]]]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    for poly in polygons:  # one call per polygon: overlapping polygons add up, never cancel out
        cv2.fillPoly(out, [np.asarray(poly, np.int32).reshape(-1, 1, 2)], 1)
    return out.astype(bool)


def load_masks(photo_dir: str | Path = REPO / "data" / "people",
               masks_json: str | Path = MASKS_JSON) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """[(file name, RGB uint8 image, person mask, ignore mask)] for every photo in the JSON, in its order."""
    out = []
    for photo in json.loads(Path(masks_json).read_text())["photos"]:
        path = Path(photo_dir) / photo["file"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None:
            raise FileNotFoundError(f"{path} (run: bash scripts/people_photos.sh)")
        shape = (photo["height"], photo["width"])
        if bgr.shape[:2] != shape:
            raise ValueError(f"{path} is {bgr.shape[1]}x{bgr.shape[0]}, the outlines were drawn on {shape[1]}x{shape[0]}")
        mask = _fill(shape, photo["people"]) & ~_fill(shape, photo.get("holes", []))
        ignore = _fill(shape, photo.get("ignore", [])) & ~mask
        out.append((photo["file"], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mask, ignore))
    return out


def overlay(rgb: np.ndarray, mask: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """The photo with the person tinted green and outlined in yellow, ignored pixels tinted blue."""
    img = rgb.astype(np.float32)
    img[mask] = 0.6 * img[mask] + 0.4 * np.array([0, 255, 0])
    img[ignore] = 0.6 * img[ignore] + 0.4 * np.array([0, 80, 255])
    out = np.ascontiguousarray(img.astype(np.uint8))
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def contact_sheet(items: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], box: tuple[int, int] = (400, 300),
                  cols: int = 4) -> np.ndarray:
    """Every overlay fitted into a box of box=(width, height) pixels, labelled, in rows of cols."""
    tiles = []
    for name, rgb, mask, ignore in items:
        img = overlay(rgb, mask, ignore)
        scale = min(box[0] / img.shape[1], box[1] / img.shape[0])
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        tile = np.full((box[1] + 20, box[0], 3), 255, np.uint8)
        tile[:img.shape[0], :img.shape[1]] = img
        cv2.putText(tile, f"{name}  {100 * mask.mean():.0f}% person", (3, box[1] + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
    return np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", default=str(REPO / "data" / "people"), help="where scripts/people_photos.sh put them")
    ap.add_argument("--sheet", required=True, help="PNG to write: every photo with its outline")
    args = ap.parse_args()
    items = load_masks(args.photos)
    sheet = contact_sheet(items)
    cv2.imwrite(args.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    outlines = sum(len(photo["people"]) for photo in json.loads(MASKS_JSON.read_text())["photos"])
    print(f"{len(items)} photos, {outlines} outlines -> {args.sheet}")


if __name__ == "__main__":
    main()
