"""Benchmark: does narration slow the frame loop? Live fps with captions on vs off, on the same machine.

The demo source paced like a 30 fps camera runs through the full pipeline (stylize + overlay) with
the same stylizer, alternately without captions and with the offline captioner (narrating every
--caption-every seconds, burning in subtitles), several rounds each; the ratio on/off is reported.
The narration costs are reported beside it (ms per line, measured on the demo frames).

    python bench/captions.py                                   # 640x360, 4 s runs, 8 rounds
    python bench/captions.py --size 1280x720 --seconds 10 --markdown bench/results/captions_cpu.md
    python bench/captions.py --screenshots docs/               # docs/caption_en.png and caption_zh.png only
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pipeline import style_for_benchmark  # noqa: E402
from export.backends import create_stylizer  # noqa: E402
from realtime.captioner import build_captioning  # noqa: E402
from realtime.captioner.narrator import OfflineNarrator  # noqa: E402
from realtime.captioner.service import Observation  # noqa: E402
from realtime.pipeline import Pipeline  # noqa: E402
from realtime.processor import FrameProcessor  # noqa: E402
from realtime.sources import DemoSource, parse_size  # noqa: E402
from training.checkpoint import DEFAULT_STYLE, list_styles  # noqa: E402


def live_run(processor: FrameProcessor, size: tuple[int, int], seconds: float, captions: bool,
             every: float) -> tuple[float, int]:
    """(output fps, captions narrated) of one paced live run."""
    captioning = None
    processor.captions = processor.renderer = None
    if captions:
        args = argparse.Namespace(captions=True, caption_every=every, caption_lang="en", captioner="offline")
        captioning = build_captioning(args)
        processor.captions, processor.renderer = captioning.source, captioning.renderer
    processor.captions_enabled = captions
    try:
        stats = Pipeline(DemoSource(size, fps=30, live=True), processor, [], max_seconds=seconds).run()
    finally:
        if captioning is not None:
            captioning.finish()
    return stats.fps, len(captioning.captions) if captioning else 0


def narration_ms(size: tuple[int, int], count: int = 5) -> float:
    """Median wall time of one offline narration of a demo frame (what the worker spends per line)."""
    scene = DemoSource(size, live=False).scene
    narrator = OfflineNarrator("en", seed=0)
    times = []
    for i in range(count):
        image = scene.render(i)
        started = time.perf_counter()
        narrator.describe(Observation(image, float(i), "demo", previous=scene.render(i - 0.2)))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def screenshots(folder: Path, backend: str) -> None:
    """A captioned frame in each language: two faces (skimage's astronaut, mirrored), styled with the
    default style when one is installed, narrated by the offline narrator, subtitles burned in."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from realtime.captioner.base import Caption
    from realtime.overlay import SubtitleOverlay

    photo = skimage.data.astronaut()[::2, ::2]
    frame = np.ascontiguousarray(np.concatenate([photo, photo[:, ::-1]], axis=1))  # 512x256
    frame = np.ascontiguousarray(np.pad(frame, ((32, 32), (0, 0), (0, 0)), mode="edge"))  # 512x320
    styled, style_name = frame, "none"
    if any(s.name == DEFAULT_STYLE for s in list_styles()):
        stylizer = create_stylizer(DEFAULT_STYLE, backend)
        styled, style_name = stylizer(frame, 1.0), stylizer.info.name
    for lang in ("en", "zh"):
        text = OfflineNarrator(lang, seed=2).describe(Observation(frame, 0.0, style_name, previous=frame))
        image = SubtitleOverlay(lang).draw(styled, Caption(text, 0.0, 4.0, lang), 2.0)
        Image.fromarray(image).save(folder / f"caption_{lang}.png")
        print(f"{folder / f'caption_{lang}.png'}: {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x360", help="WxH (default 640x360)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each live run (default 4)")
    parser.add_argument("--rounds", type=int, default=8, help="off/on pairs (default 8)")
    parser.add_argument("--caption-every", type=float, default=2.0, help="narration interval, s (default 2)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--markdown", type=Path, help="also write the result to this file")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="only write caption_en/zh.png to DIR")
    args = parser.parse_args()
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        screenshots(args.screenshots, args.backend)
        return 0
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        style, style_note = style_for_benchmark(Path(tmp))
        processor = FrameProcessor(create_stylizer(style, args.backend))
        off, on, narrated = [], [], 0
        for round_ in range(args.rounds):
            for captions in (False, True) if round_ % 2 == 0 else (True, False):
                fps, lines = live_run(processor, size, args.seconds, captions, args.caption_every)
                (on if captions else off).append(fps)
                narrated += lines
                print(f"round {round_ + 1}: captions {'on ' if captions else 'off'} {fps:.2f} fps", file=sys.stderr)
    per_line = narration_ms(size)
    off_fps, on_fps = statistics.mean(off), statistics.mean(on)
    paired = statistics.median(a / b for a, b in zip(on, off))  # each round's on/off: cancels slow drifts in load
    text = "\n".join([
        "# Captions vs frame-loop speed on CPU",
        "",
        f"- machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}; backend {processor.stylizer.name}; style: {style_note}",
        f"- demo source paced as a 30 fps camera, {size[0]}x{size[1]}, {args.seconds:g} s per run, "
        f"{args.rounds} off/on rounds (alternating order); offline narrator every {args.caption_every:g} s",
        f"- command: `python bench/captions.py --size {args.size} --seconds {args.seconds:g} "
        f"--rounds {args.rounds} --caption-every {args.caption_every:g}`",
        "",
        "| captions | live fps (mean of runs) | runs |",
        "|---|---|---|",
        f"| off | {off_fps:.2f} | {', '.join(f'{v:.2f}' for v in off)} |",
        f"| on | {on_fps:.2f} | {', '.join(f'{v:.2f}' for v in on)} |",
        "",
        f"**ratio on/off: {paired:.3f}** (median of the {args.rounds} per-round ratios; ratio of the means "
        f"{on_fps / off_fps:.3f}). {narrated} lines narrated in the 'on' runs; one offline "
        f"narration of a {size[0]}x{size[1]} frame takes {per_line:.0f} ms on the worker thread, which runs at "
        "low priority, in a separate process, beside the loop. The machine is shared, so single runs vary; "
        "compare the paired ratio.",
        "",
    ])
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
