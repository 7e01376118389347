#!/usr/bin/env python3
"""What each speed technique costs in quality: the quality harness's scores (bench/quality.py) for one style
through the real inference path at several render scales, beside the full-size PyTorch reference.

Same photos, clip and measures as bench/quality.py (palette, LBP, Gabor, content kept, sky grid, warping
ratio), so the rows compare directly with bench/results/quality.md. A render scale is judged at the
resolution it is used at (default 720 px tall: a 720p camera styled at 360p for scale 0.5).

    python bench/quality_speed.py --style mosaic --height 720 --out bench/results/quality_speed.md
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import metrics  # noqa: E402
from bench.quality import DEFAULT_CLIP, clip_frames, harness_photos, scores, style_image_for  # noqa: E402
from export.backends import create_stylizer  # noqa: E402
from training.checkpoint import DEFAULT_STYLE, load_style  # noqa: E402
from training.train import stylize_image  # noqa: E402

MEASURES = ("palette", "lbp", "gabor", "content", "grid", "warp")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=DEFAULT_STYLE)
    parser.add_argument("--backend", default="onnx-cpu")
    parser.add_argument("--render-scales", default="1,0.75,0.5,0.375", help="comma-separated (1 = full size)")
    parser.add_argument("--height", type=int, default=720, help="photo and clip height in px (the camera's)")
    parser.add_argument("--frames", type=int, default=12, help="clip frames for the warping error")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/quality_speed.md")
    args = parser.parse_args()
    started = time.time()
    photos = harness_photos(args.height)
    frames = clip_frames(args.clip, args.frames, args.height)
    flows = metrics.clip_flows(frames)
    input_warp = metrics.warping_error(frames, flows)
    model, info = load_style(args.style)
    style = style_image_for(info, args.height)
    rows = {"pytorch-cpu reference, full size": scores(lambda p: stylize_image(model, p), photos, style, frames,
                                                       flows, input_warp)}
    for scale in [s.strip() for s in args.render_scales.split(",") if s.strip()]:
        stylizer = create_stylizer(args.style, args.backend, render_scale=scale)
        rows[f"{args.backend}, render scale {scale}"] = scores(lambda p: stylizer(p, 1.0), photos, style, frames,
                                                               flows, input_warp)
        print(scale, {k: round(v, 3) for k, v in rows[f"{args.backend}, render scale {scale}"].items()}, flush=True)
    write_report(args, info.name, rows, time.time() - started)
    return 0


def write_report(args, style: str, rows: dict[str, dict[str, float]], seconds: float) -> None:
    reference = rows["pytorch-cpu reference, full size"]
    lines = [
        "# Quality cost of the speed techniques (render scale, engine)",
        "",
        f"- date: {datetime.date.today().isoformat()}; command: `python bench/quality_speed.py "
        f"{' '.join(sys.argv[1:])}` ({seconds / 60:.1f} min)",
        f"- style: {style}; photos and clip {args.height} px tall; measures as in bench/results/quality.md "
        "(palette, LBP, Gabor, sky grid: lower is closer to the style image / cleaner; content: higher keeps more "
        "of the photo; warp: lower is steadier, 1 = as steady as the input)",
        "",
        "| path | palette ↓ | LBP ↓ | Gabor ↓ | content ↑ | sky grid ↓ | warp ratio ↓ |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for who, m in rows.items():
        lines.append(f"| {who} | {m['palette']:.1f} | {m['lbp']:.4f} | {m['gabor']:.3f} | {m['content']:.3f} | "
                     f"{m['grid']:.2f} | {m['warp']:.2f} |")
    lines += ["", "Change against the full-size reference (positive = worse):", ""]
    for who, m in list(rows.items())[1:]:
        deltas = [f"palette {m['palette'] - reference['palette']:+.1f}",
                  f"LBP {m['lbp'] - reference['lbp']:+.4f}", f"Gabor {m['gabor'] - reference['gabor']:+.3f}",
                  f"content {reference['content'] - m['content']:+.3f}", f"warp {m['warp'] - reference['warp']:+.2f}"]
        lines.append(f"- {who}: " + ", ".join(deltas))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())
