#!/usr/bin/env python3
"""Draw the procedural style images the shipped styles are trained on (no downloads, no licences).

Each image is deterministic (fixed seed), 512x512 RGB, written as PNG:
- mosaic:   Voronoi tiles in saturated colours with dark grout lines
- swirl:    blue/yellow brush strokes following a field of vortices
- ink:      black cross-hatching on cream paper, denser where a smooth "shade" field is darker
- popart:   halftone dots of several sizes in cyan/magenta/yellow on white, with bold black outlines

Usage: python scripts/make_style_images.py [--out styles/images]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

SIZE = 512


def _smooth_field(rng: np.random.Generator, size: int, blobs: int, sigma: float) -> np.ndarray:
    """A smooth random field in [0, 1] (sum of Gaussian blobs), HxW float."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.zeros((size, size), np.float32)
    for _ in range(blobs):
        cx, cy = rng.uniform(0, size, 2)
        field += rng.uniform(-1, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def mosaic(rng: np.random.Generator) -> np.ndarray:
    """Voronoi tiles (about 26 px) with 3 px dark grout."""
    palette = np.array([[200, 40, 40], [240, 180, 30], [30, 90, 190], [40, 150, 80], [230, 110, 30],
                        [120, 50, 150], [240, 230, 200], [20, 160, 170]], np.uint8)
    points = rng.uniform(0, SIZE, (420, 2)).astype(np.float32)
    subdiv = cv2.Subdiv2D((0, 0, SIZE, SIZE))
    for p in points:
        subdiv.insert((float(p[0]), float(p[1])))
    facets, _ = subdiv.getVoronoiFacetList([])
    image = np.full((SIZE, SIZE, 3), 35, np.uint8)
    for facet in facets:
        colour = palette[rng.integers(len(palette))].astype(int) + rng.integers(-25, 25, 3)
        poly = facet.astype(np.int32)
        cv2.fillConvexPoly(image, poly, tuple(int(c) for c in np.clip(colour, 0, 255)), lineType=cv2.LINE_AA)
        cv2.polylines(image, [poly], True, (35, 30, 28), 3, lineType=cv2.LINE_AA)
    return image


def swirl(rng: np.random.Generator) -> np.ndarray:
    """Short thick strokes along the flow of a few vortices, in a night-sky palette."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[:] = (20, 40, 90)
    centres = rng.uniform(0, SIZE, (6, 2))
    spins = rng.choice([-1.0, 1.0], 6)
    palette = np.array([[25, 55, 140], [50, 100, 190], [90, 150, 220], [240, 210, 80], [250, 240, 170],
                        [15, 30, 80], [200, 120, 40]], np.float32)
    for _ in range(9000):
        x, y = rng.uniform(0, SIZE, 2)
        colour = palette[rng.choice(len(palette), p=[.22, .22, .16, .14, .08, .12, .06])] + rng.normal(0, 12, 3)
        pts = [(x, y)]
        for _ in range(int(rng.integers(4, 9))):
            d = np.array([x, y]) - centres
            r2 = (d**2).sum(1) + 400.0
            flow = (np.stack([-d[:, 1], d[:, 0]], 1) * (spins / r2)[:, None]).sum(0)
            flow /= np.linalg.norm(flow) + 1e-6
            x, y = x + 5 * flow[0], y + 5 * flow[1]
            pts.append((x, y))
        cv2.polylines(image, [np.array(pts, np.int32)], False, tuple(float(c) for c in np.clip(colour, 0, 255)),
                      int(rng.integers(3, 7)), lineType=cv2.LINE_AA)
    return image


def ink(rng: np.random.Generator) -> np.ndarray:
    """Cross-hatching: up to three line directions, more layers where the shade field is dark."""
    shade = _smooth_field(rng, SIZE, 14, 70.0)
    image = np.full((SIZE, SIZE, 3), (238, 228, 205), np.uint8)
    for layer, (angle, threshold) in enumerate([(35, 0.8), (-40, 0.55), (85, 0.3), (10, 0.15)]):
        lines = np.full((SIZE, SIZE), 255, np.uint8)
        theta = np.deg2rad(angle)
        direction = np.array([np.cos(theta), np.sin(theta)])
        normal = np.array([-direction[1], direction[0]])
        for offset in np.arange(-SIZE, 2 * SIZE, 7 - layer):
            jitter = rng.normal(0, 1.0, 2)
            centre = np.array([SIZE / 2, SIZE / 2]) + normal * (offset - SIZE / 2) + jitter
            a, b = centre - direction * SIZE, centre + direction * SIZE
            cv2.line(lines, tuple(a.astype(int)), tuple(b.astype(int)), 0, 1 + int(rng.random() < 0.3), cv2.LINE_AA)
        mask = (shade < threshold) & (lines < 128)
        image[mask] = (25, 22, 30)
    return image


def popart(rng: np.random.Generator) -> np.ndarray:
    """Halftone dots whose radius follows smooth fields, on flat colour panels with black outlines."""
    image = np.full((SIZE, SIZE, 3), 250, np.uint8)
    panels = [(0, 0, 256, 256, (250, 220, 40)), (256, 0, 512, 256, (240, 80, 150)),
              (0, 256, 256, 512, (60, 180, 230)), (256, 256, 512, 512, (250, 250, 245))]
    dot_colours = [(220, 30, 60), (20, 60, 200), (20, 20, 20), (230, 40, 150)]
    for (x0, y0, x1, y1, colour), dot in zip(panels, dot_colours):
        image[y0:y1, x0:x1] = colour
        field = _smooth_field(rng, SIZE, 6, 90.0)
        for y in range(y0 + 6, y1, 12):
            shift = 6 if (y // 12) % 2 else 0
            for x in range(x0 + 6 + shift, x1, 12):
                radius = int(1 + 5 * field[y, x])
                cv2.circle(image, (x, y), radius, dot, -1, cv2.LINE_AA)
    for _ in range(7):
        centre = tuple(int(v) for v in rng.uniform(60, SIZE - 60, 2))
        axes = tuple(int(v) for v in rng.uniform(25, 80, 2))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, (15, 15, 15), 5, cv2.LINE_AA)
    cv2.line(image, (256, 0), (256, SIZE), (15, 15, 15), 6)
    cv2.line(image, (0, 256), (SIZE, 256), (15, 15, 15), 6)
    return image


MAKERS = {"mosaic": mosaic, "swirl": swirl, "ink": ink, "popart": popart}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("styles/images"), help="folder for NAME.png")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, (name, make) in enumerate(MAKERS.items()):
        rgb = make(np.random.default_rng(seed))
        cv2.imwrite(str(args.out / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
