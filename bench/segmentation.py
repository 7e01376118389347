"""Benchmark: `--apply background|person`, judged on what a viewer sees and what it costs.

1. Mask accuracy on real photos with people (from Debian packages, scripts/people_photos.sh) against outlines
   drawn by hand (bench/people_masks.json): IoU and boundary F-score (DAVIS: boundary pixels within 0.8 % of
   the diagonal), for the shipped mask (smoothing + guided upsampling + feather) and for the model's mask simply
   enlarged (bilinear, threshold 0.5), plus a contact sheet.
2. Edge steadiness: the mask's frame-to-frame change in a band around the outline, with and without the
   temporal smoothing, on a still person (a real photo under webcam-like sensor noise) and on a real clip
   (OpenCV's Megamind.avi; shot cuts left out); the lag behind a person who moves; and the warping error
   (Lai et al. 2018) of the composited output next to `--apply all`.
3. Cost: the frame loop on the demo source at 1280x720 with `--apply all`, `background` and `person`, in
   turns in the same run: throughput fps, live fps and latency p50.

    bash scripts/people_photos.sh                          # the photos (data/people)
    python bench/segmentation.py                           # writes bench/results/segmentation.md, docs/segmentation.jpg
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.metrics import clip_flows, warping_error  # noqa: E402
from bench.pipeline import pipeline_run  # noqa: E402
from bench.quality import clip_frames  # noqa: E402
from export.backends import create_stylizer  # noqa: E402
from realtime import segmentation  # noqa: E402
from realtime.frames import Frame  # noqa: E402
from realtime.processor import FrameProcessor  # noqa: E402
from realtime.segmentation import PersonMasker, composite, selfie_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEGAMIND = Path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi")
MEGAMIND_HEIGHT = 470  # its 720x528 frames at 640 px wide
BAND_PX = 6  # half-width of the band around the outline where shimmer shows
EXAMPLES = ("python-matplotlib-data-grace_hopper.jpg", "kphotoalbum-bar55_2.jpg", "kphotoalbum-grand_canyon_2.jpg")
CUT = 25.0  # mean absolute difference (0-255) between frames above which a frame starts a new shot


# --- 1. accuracy -----------------------------------------------------------------------------------------

def boundary(mask: np.ndarray) -> np.ndarray:
    """1-px outline of a boolean mask."""
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0


def boundary_f(predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    """DAVIS boundary F-measure: outline pixels within a tolerance of the other outline."""
    tolerance = max(1, round(0.008 * float(np.hypot(*truth.shape))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    bp, bt = boundary(predicted) & valid, boundary(truth) & valid
    if not bp.any() and not bt.any():
        return 1.0
    near_t = cv2.dilate(bt.astype(np.uint8), disk) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), disk) > 0
    precision = (bp & near_t).sum() / max(1, bp.sum())
    recall = (bt & near_p).sum() / max(1, bt.sum())
    return float(2 * precision * recall / max(1e-9, precision + recall))


def iou(predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    union = ((predicted | truth) & valid).sum()
    return float(((predicted & truth) & valid).sum() / union) if union else 1.0


def enlarged_model_mask(image: np.ndarray) -> np.ndarray:
    """The baseline: the model's probability enlarged bilinearly, thresholded at 0.5."""
    probability = selfie_model(image.shape[:2])(image)
    return cv2.resize(probability, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR) >= 0.5


def accuracy(photo_dir: Path) -> tuple[list[dict], list[np.ndarray]]:
    from bench.people_masks import load_masks

    rows, tiles = [], []
    for name, image, truth, ignore in load_masks(photo_dir):
        valid = ~ignore
        ours = PersonMasker()(image) >= 0.5
        plain = enlarged_model_mask(image)
        rows.append({"name": name, "size": f"{image.shape[1]}x{image.shape[0]}",
                     "person %": 100 * truth.mean(), "iou": iou(ours, truth, valid),
                     "bf": boundary_f(ours, truth, valid), "iou plain": iou(plain, truth, valid),
                     "bf plain": boundary_f(plain, truth, valid)})
        tiles.append(overlay_tile(image, ours, truth, rows[-1]["iou"]))
    return rows, tiles


def overlay_tile(image: np.ndarray, ours: np.ndarray, truth: np.ndarray, score: float, height: int = 240) -> np.ndarray:
    """Our mask tinted green, the hand-drawn outline in red, IoU written in the corner."""
    tile = image.copy()
    tile[ours] = (0.55 * tile[ours] + 0.45 * np.array([40, 220, 60])).astype(np.uint8)
    contours, _ = cv2.findContours(truth.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    thickness = max(1, round(image.shape[0] / height))
    cv2.drawContours(tile, contours, -1, (230, 30, 30), thickness)
    width = round(image.shape[1] * height / image.shape[0])
    tile = cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA)
    cv2.putText(tile, f"IoU {score:.2f}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return tile


def contact_sheet(tiles: list[np.ndarray], width: int = 1600) -> np.ndarray:
    rows, row, used = [], [], 0
    for tile in tiles:
        if row and used + tile.shape[1] > width:
            rows.append(row)
            row, used = [], 0
        row.append(tile)
        used += tile.shape[1]
    rows.append(row)
    lines = [np.hstack(r + [np.zeros((r[0].shape[0], width - sum(t.shape[1] for t in r), 3), np.uint8)]) for r in rows]
    return np.vstack(lines)


def examples(photo_dir: Path, style: str, names: tuple[str, ...], height: int = 240) -> np.ndarray:
    """What a user sees: each photo as it is, styled whole, background only, person only."""
    from training.data import read_image

    rows = []
    for name in names:
        image = read_image(photo_dir / name)
        image = cv2.resize(image, (round(image.shape[1] * height / image.shape[0]) // 2 * 2, height),
                           interpolation=cv2.INTER_AREA)
        tiles = [image]
        for apply in ("all", "background", "person"):
            processor = FrameProcessor(create_stylizer(style, "onnx-cpu", "1"), apply=apply)
            processor.stills = True
            tiles.append(processor.stylize(Frame(image, 0.0, 0.0, 0)).image)
            processor.close()
        for tile, label in zip(tiles, ("input", "--apply all", "--apply background", "--apply person")):
            cv2.putText(tile, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])


# --- 2. steadiness ---------------------------------------------------------------------------------------

def noisy_still(image: np.ndarray, frames: int, sigma: float = 3.0) -> list[np.ndarray]:
    """A still person on a webcam: the same photo with fresh sensor noise every frame."""
    rng = np.random.default_rng(0)
    return [np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


def sliding(image: np.ndarray, frames: int, step: int = 6) -> list[np.ndarray]:
    """A person crossing the frame: the photo shifted `step` px a frame (edges repeated)."""
    h, w = image.shape[:2]
    return [cv2.warpAffine(image, np.float32([[1, 0, step * i - frames * step // 2], [0, 1, 0]]), (w, h),
                           borderMode=cv2.BORDER_REPLICATE) for i in range(frames)]


def shots(frames: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Split at cuts (large mean frame differences)."""
    out = [[frames[0]]]
    for previous, current in zip(frames, frames[1:]):
        if np.abs(current.astype(np.int16) - previous.astype(np.int16)).mean() > CUT:
            out.append([])
        out[-1].append(current)
    return [shot for shot in out if len(shot) > 1]


def masks(frames: list[np.ndarray], smoothing: float) -> list[np.ndarray]:
    masker = PersonMasker(every=1, smoothing=smoothing)
    return [masker(frame) for frame in frames]


def band_change(sequence: list[np.ndarray]) -> tuple[float, float]:
    """(mean |change| of the mask in a band around the outline, in %; share of band pixels crossing 0.5, in %)."""
    kernel = np.ones((2 * BAND_PX + 1, 2 * BAND_PX + 1), np.uint8)
    changes, flips = [], []
    for previous, current in zip(sequence, sequence[1:]):
        band = cv2.dilate(boundary(current >= 0.5).astype(np.uint8), kernel) > 0
        if band.sum() < 50:
            continue
        changes.append(np.abs(current - previous)[band].mean())
        flips.append(((current >= 0.5) != (previous >= 0.5))[band].mean())
    return (100 * float(np.mean(changes)), 100 * float(np.mean(flips))) if changes else (float("nan"), float("nan"))


def trail(frames: list[np.ndarray]) -> float:
    """Lag behind a moving person: % of the smoothed mask's area outside the unsmoothed mask of the same frame."""
    smoothed, raw = masks(frames, segmentation.PREVIOUS_RATIO), masks(frames, 0.0)
    behind = [((s >= 0.5) & (r < 0.5)).sum() / max(1, (r >= 0.5).sum()) for s, r in zip(smoothed[1:], raw[1:])]
    return 100 * float(np.mean(behind))


def steadiness(still: np.ndarray, megamind: list[np.ndarray]) -> list[dict]:
    rows = []
    for label, sequences in (("still person (real photo + sensor noise, 40 frames)", [noisy_still(still, 40)]),
                             (f"Megamind.avi ({sum(map(len, shots(megamind)))} frames, {len(shots(megamind))} shots)",
                              shots(megamind))):
        row = {"clip": label}
        for name, ratio in (("raw", 0.0), ("smoothed", segmentation.PREVIOUS_RATIO)):
            values = [band_change(masks(shot, ratio)) for shot in sequences]
            row[name] = tuple(float(np.nanmean([v[i] for v in values])) for i in range(2))
        rows.append(row)
    return rows


def warping(frames: list[np.ndarray], style: str) -> dict[str, float]:
    """Warping error (x1000) of the styled clip per --apply, and of the input itself, on the longest shot."""
    shot = max(shots(frames), key=len)[:48]
    flows = clip_flows(shot)
    out = {"input": 1000 * warping_error(shot, flows)}
    for apply in ("all", "background", "person"):
        processor = FrameProcessor(create_stylizer(style, "onnx-cpu", "1"), apply=apply, mask_every=1)
        styled = []
        for index, frame in enumerate(shot):
            styled.append(processor.stylize(Frame(frame, index / 24, 0.0, index)).image)
        out[apply] = 1000 * warping_error(styled, flows)
    return out


# --- 3. cost ---------------------------------------------------------------------------------------------

def cost(style: str, seconds: float, rounds: int, render_scale: str) -> dict[str, dict[str, list[float]]]:
    """Per --apply: throughput fps, live fps, live latency p50 and render scale of each round (turns alternate)."""
    results: dict[str, dict[str, list[float]]] = {}
    processors = {apply: FrameProcessor(create_stylizer(style, "auto", render_scale), apply=apply)
                  for apply in ("all", "background", "person")}
    for _ in range(rounds):
        for apply, processor in processors.items():
            throughput = pipeline_run(processor, (1280, 720), live=False, seconds=seconds)
            live = pipeline_run(processor, (1280, 720), live=True, seconds=seconds)
            row = results.setdefault(apply, {"throughput": [], "live": [], "p50": [], "scale": []})
            row["throughput"].append(throughput.fps)
            row["live"].append(live.fps)
            row["p50"].append(live.latency_ms(50))
            row["scale"].append(getattr(processor.stylizer, "scale", 1.0))
    return results


def cost_table(costs: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = ["| --apply | throughput fps | vs all | live fps | vs all | live latency p50 ms | vs all | render scale |",
             "|---|---|---|---|---|---|---|---|"]
    base = {k: float(np.median(v)) for k, v in costs["all"].items()}
    for apply, values in costs.items():
        m = {k: float(np.median(v)) for k, v in values.items()}
        lines.append(f"| {apply} | {m['throughput']:.2f} | {m['throughput'] / base['throughput']:.2f}x | "
                     f"{m['live']:.2f} | {m['live'] / base['live']:.2f}x | {m['p50']:.0f} | "
                     f"{m['p50'] - base['p50']:+.0f} ms | {m['scale']:.2f} |")
    return lines


# --- report ----------------------------------------------------------------------------------------------

def report(args, rows, sheet_path, steady, warp, costs, every, seconds) -> str:
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    lines = [f"# `--apply background|person`: mask accuracy, steadiness and cost ({datetime.date.today()})", "",
             f"- machine: {platform.processor() or platform.machine()}, 2-core CPU VM, no GPU; Python "
             f"{platform.python_version()}; model: MediaPipe selfie segmentation (landscape 256x144, square "
             "256x256 for upright photos) on ai-edge-litert, 1 thread",
             f"- command: `python bench/segmentation.py {' '.join(sys.argv[1:])}` ({seconds / 60:.1f} min)", ""]
    if rows:
        lines += ["## 1. Mask accuracy against hand-drawn outlines", "",
                  f"{len(rows)} real photos with people from Debian packages (scripts/people_photos.sh; sources and "
                  "licences in bench/people_masks.json), outlines drawn by hand as polygons. `ours` = the mask "
                  "`--apply` uses (threshold 0.5); `enlarged` = the model's mask enlarged bilinearly.", "",
                  "| photo | size | person % | IoU ours | boundary F ours | IoU enlarged | boundary F enlarged |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['size']} | {r['person %']:.0f} | {r['iou']:.3f} | {r['bf']:.3f} | "
                  f"{r['iou plain']:.3f} | {r['bf plain']:.3f} |" for r in rows]
        lines += [f"| **mean** | | | **{mean('iou'):.3f}** | **{mean('bf'):.3f}** | {mean('iou plain'):.3f} | "
                  f"{mean('bf plain'):.3f} |", "",
                  f"Contact sheet: [{sheet_path}](../../{sheet_path}) (ours tinted green, the hand-drawn outline red).", ""]
    lines += ["## 2. Edge steadiness", "",
              f"Mask change between frames inside a {2 * BAND_PX + 1} px band around the outline (mean |change| of "
              "the 0-1 mask, %; and % of band pixels crossing 0.5), without (`raw`) and with the temporal smoothing.", "",
              "| clip | raw change % | raw flips % | smoothed change % | smoothed flips % |", "|---|---|---|---|---|"]
    lines += [f"| {r['clip']} | {r['raw'][0]:.2f} | {r['raw'][1]:.2f} | {r['smoothed'][0]:.2f} | "
              f"{r['smoothed'][1]:.2f} |" for r in steady]
    lines += ["", f"Lag behind a person who moves (the photo sliding 6 px a frame): the smoothed mask reaches "
              f"{args.trail:.2f} % of the person's area outside the unsmoothed mask of the same frame.", "",
              f"Warping error x1000 on Megamind.avi's longest shot (48 frames, 640 px, style '{args.style}', "
              "onnx-cpu), lower is steadier:", "",
              "| input | --apply all | background | person |", "|---|---|---|---|",
              f"| {warp['input']:.2f} | {warp['all']:.2f} | {warp['background']:.2f} | {warp['person']:.2f} |", ""]
    lines += ["## 3. Cost at 1280x720 (demo source, in turns in one run)", "",
              f"Backend auto, {args.rounds} rounds of {args.seconds:g} s each per row; medians. The demo scene has "
              "no person: the model and the compositing run all the same. Throughput: every frame, no pacing; "
              "live: paced as a 30 fps camera, newest frame first."]
    for scale, table in costs.items():
        lines += ["", f"`--render-scale {scale}`:", ""] + cost_table(table)
    base = {k: float(np.median(v)) for k, v in next(iter(costs.values()))["all"].items()}
    lines += ["", f"The model alone takes {every['model_ms']:.1f} ms a frame at 1280x720 (median); the whole mask "
              f"(model + guided upsampling + feather) {every['mask_ms']:.1f} ms and the composite "
              f"{every['composite_ms']:.1f} ms. `--mask-every auto` runs the model on every frame while it takes at "
              f"most {100 * segmentation.AUTO_SHARE:.0f} % of the time between frames: at this machine's "
              f"{base['live']:.1f} fps it picks N = {every['auto']}.", ""]
    return "\n".join(lines)


def mask_timings(image: np.ndarray, frames: int = 30) -> dict[str, float]:
    """Median ms of the model, the whole mask and the composite on one 1280x720 frame."""
    image = cv2.resize(image, (1280, 720))
    model, masker = selfie_model(image.shape[:2]), PersonMasker(every=1)
    timing = {"model_ms": [], "mask_ms": [], "composite_ms": []}
    for _ in range(frames):
        started = time.perf_counter()
        model(image)
        timing["model_ms"].append(time.perf_counter() - started)
        started = time.perf_counter()
        mask = masker(image)
        timing["mask_ms"].append(time.perf_counter() - started)
        started = time.perf_counter()
        composite(image, 255 - image, mask, "background")
        timing["composite_ms"].append(time.perf_counter() - started)
    return {k: 1000 * float(np.median(v)) for k, v in timing.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=REPO / "data/people")
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per cost run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--render-scales", default="1,auto", help="render scales of the cost runs (see run --help)")
    parser.add_argument("--markdown", type=Path, default=REPO / "bench/results/segmentation.md")
    parser.add_argument("--sheet", type=Path, default=REPO / "docs/segmentation.jpg")
    parser.add_argument("--examples", type=Path, default=REPO / "docs/apply.jpg")
    args = parser.parse_args()
    started = time.perf_counter()
    rows, tiles = accuracy(args.photos) if args.photos.is_dir() else ([], [])
    if tiles:
        cv2.imwrite(str(args.sheet), cv2.cvtColor(contact_sheet(tiles), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        figure = examples(args.photos, args.style, EXAMPLES)
        cv2.imwrite(str(args.examples), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    import skimage.data

    still = cv2.resize(skimage.data.astronaut(), (640, 640))[80:560]
    megamind = clip_frames(MEGAMIND, 10**6, MEGAMIND_HEIGHT)  # every frame, 640x470
    steady = steadiness(still, megamind)
    args.trail = trail(sliding(still, 30))
    warp = warping(megamind, args.style)
    costs = {scale: cost(args.style, args.seconds, args.rounds, scale) for scale in args.render_scales.split(",")}
    timings = mask_timings(still)
    base_live = float(np.median(next(iter(costs.values()))["all"]["live"]))
    timings["auto"] = segmentation.auto_every(timings["model_ms"] / 1000, 1 / max(base_live, 1e-3))
    sheet = args.sheet.relative_to(REPO) if args.sheet.is_relative_to(REPO) else args.sheet
    text = report(args, rows, sheet, steady, warp, costs, timings, time.perf_counter() - started)
    args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
