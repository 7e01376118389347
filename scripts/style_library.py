#!/usr/bin/env python3
"""Build and check the style-image library described by styles/library.csv (driven by scripts/style_library.sh).

Manifest columns: file,split,kind,package,path_in_package,licence,title
- split: train | heldout (held-out images are never used for training; they judge the conditional network)
- kind: painting | artwork | photo | texture | procedural
- package: the Debian package the file comes from, or `procedural`; then path_in_package is
  `scripts/make_style_images.py:NAME seed=N [hue=DEGREES]` (NAME is one of that script's MAKERS; hue rotates
  the palette in HSV, since the makers' palettes are fixed)

Every image is written RGB, short side at most 512 px (cv2 INTER_AREA), to OUT/SPLIT/FILE (.jpg quality 92 or
.png). A source whose short side is under 256 px or that is near-uniform is an error: the manifest lists only
files that were checked by eye, so either means the package changed.

Usage:
  python scripts/style_library.py packages               # the Debian packages the manifest needs, one a line
  python scripts/style_library.py files                  # PACKAGE<TAB>PATH_IN_PACKAGE for each package row
  python scripts/style_library.py build --src DIR --out data/styles   # DIR/PACKAGE/ = the extracted package
  python scripts/style_library.py verify --out data/styles            # every row present and well-formed
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from make_style_images import MAKERS

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "styles" / "library.csv"
COLUMNS = ["file", "split", "kind", "package", "path_in_package", "licence", "title"]
SPLITS = ("train", "heldout")
KINDS = ("painting", "artwork", "photo", "texture", "procedural")
MAX_SHORT = 512   # longest allowed short side of a written image
MIN_SHORT = 256   # a source smaller than this is too small to be a style image
MIN_STD = 8.0     # grey-level standard deviation below this = near-uniform
PROCEDURAL = re.compile(r"^scripts/make_style_images\.py:(?P<name>\w+) seed=(?P<seed>\d+)(?: hue=(?P<hue>\d+))?$")


def read_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    """The manifest's rows, checked for the columns, split and kind values, and unique file names."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f"{path}: columns must be {','.join(COLUMNS)}, not {reader.fieldnames}")
        rows = list(reader)
    names = Counter(row["file"] for row in rows)
    problems = [f"duplicate file {name}" for name, n in names.items() if n > 1]
    for row in rows:
        if row["split"] not in SPLITS:
            problems.append(f"{row['file']}: split {row['split']!r}")
        if row["kind"] not in KINDS:
            problems.append(f"{row['file']}: kind {row['kind']!r}")
        if (row["kind"] == "procedural") != (row["package"] == "procedural"):
            problems.append(f"{row['file']}: kind procedural <=> package procedural")
        if row["split"] == "heldout" and row["kind"] not in ("painting", "artwork"):
            problems.append(f"{row['file']}: only paintings and artwork are held out")
        if row["package"] == "procedural" and not PROCEDURAL.match(row["path_in_package"]):
            problems.append(f"{row['file']}: procedural path {row['path_in_package']!r}")
        if Path(row["file"]).suffix not in (".jpg", ".png") or "/" in row["file"]:
            problems.append(f"{row['file']}: file must be a bare NAME.jpg or NAME.png")
    if problems:
        raise SystemExit(f"{path}:\n  " + "\n  ".join(problems))
    return rows


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Any cv2.imread(IMREAD_UNCHANGED) result -> 8-bit RGB (alpha composited over white)."""
    if image.dtype != np.uint8:
        image = (image / (65535.0 if image.dtype == np.uint16 else image.max() or 1) * 255).round().astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0
        bgr = image[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return cv2.cvtColor(bgr.round().astype(np.uint8), cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def downscale(rgb: np.ndarray, max_short: int = MAX_SHORT) -> np.ndarray:
    """Shrink (never enlarge) so the short side is at most max_short px."""
    h, w = rgb.shape[:2]
    scale = max_short / min(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def procedural(spec: str) -> np.ndarray:
    """Draw `scripts/make_style_images.py:NAME seed=N [hue=D]` with that script's maker."""
    match = PROCEDURAL.match(spec)
    if not match or match["name"] not in MAKERS:
        raise SystemExit(f"unknown procedural spec {spec!r} (makers: {', '.join(MAKERS)})")
    rgb = MAKERS[match["name"]](np.random.default_rng(int(match["seed"])))
    hue = int(match["hue"] or 0) % 360
    if hue:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # OpenCV hue is 0..179 (degrees / 2)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + hue // 2) % 180).astype(np.uint8)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return rgb


def load_source(row: dict[str, str], src: Path) -> np.ndarray:
    """The row's image as RGB at full size, checked for size and content."""
    if row["package"] == "procedural":
        return procedural(row["path_in_package"])
    path = src / row["package"] / row["path_in_package"]
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if image is None:
        raise SystemExit(f"{row['file']}: cannot read {path} (not in package {row['package']}?)")
    rgb = to_rgb(image)
    if min(rgb.shape[:2]) < MIN_SHORT:
        raise SystemExit(f"{row['file']}: {path} is {rgb.shape[1]}x{rgb.shape[0]}, short side under {MIN_SHORT} px")
    std = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).std())
    if std < MIN_STD:
        raise SystemExit(f"{row['file']}: {path} is near-uniform (grey std {std:.1f})")
    return rgb


def write(rgb: np.ndarray, path: Path) -> None:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), bgr, params):
        raise SystemExit(f"cannot write {path}")


def build(rows: list[dict[str, str]], src: Path, out: Path) -> None:
    """Write every row's image; remove files in OUT/train and OUT/heldout that the manifest doesn't list."""
    wanted = {(row["split"], row["file"]) for row in rows}
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        for stale in (out / split).iterdir():
            if (split, stale.name) not in wanted:
                stale.unlink()
    for row in rows:
        write(downscale(load_source(row, src)), out / row["split"] / row["file"])


def verify(rows: list[dict[str, str]], out: Path) -> list[str]:
    """Problems with OUT against the manifest (empty = fine), then the counts are printed."""
    problems = []
    for row in rows:
        path = out / row["split"] / row["file"]
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
        if image is None:
            problems.append(f"missing or unreadable: {path}")
        elif image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            problems.append(f"not 8-bit RGB: {path} {image.shape} {image.dtype}")
        elif min(image.shape[:2]) > MAX_SHORT:
            problems.append(f"short side over {MAX_SHORT} px: {path} {image.shape[1]}x{image.shape[0]}")
    listed = {(row["split"], row["file"]) for row in rows}
    for split in SPLITS:
        for extra in sorted((out / split).glob("*")) if (out / split).is_dir() else []:
            if (split, extra.name) not in listed:
                problems.append(f"not in the manifest: {extra}")
    return problems


def summary(rows: list[dict[str, str]]) -> str:
    counts = Counter((row["kind"], row["split"]) for row in rows)
    lines = [f"{'kind':<11}{'train':>6}{'heldout':>8}"]
    for kind in KINDS:
        lines.append(f"{kind:<11}{counts[kind, 'train']:>6}{counts[kind, 'heldout']:>8}")
    train = sum(row["split"] == "train" for row in rows)
    lines.append(f"{'total':<11}{train:>6}{len(rows) - train:>8}   = {len(rows)} images")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["packages", "files", "build", "verify"])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--src", type=Path, help="build: folder holding one extracted tree per package")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "styles")
    args = parser.parse_args()
    rows = read_manifest(args.manifest)
    if args.command == "packages":
        print("\n".join(sorted({row["package"] for row in rows} - {"procedural"})))
        return
    if args.command == "files":
        listed = [f"{row['package']}\t{row['path_in_package']}" for row in rows if row["package"] != "procedural"]
        print("\n".join(listed))
        return
    if args.command == "build":
        if args.src is None:
            parser.error("build needs --src")
        build(rows, args.src, args.out)
    problems = verify(rows, args.out)
    if problems:
        sys.exit(f"{len(problems)} problem(s) in {args.out}:\n  " + "\n  ".join(problems))
    print(summary(rows))


if __name__ == "__main__":
    main()
