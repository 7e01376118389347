"""Benchmark: end-to-end fps and glass-to-glass latency of the frame loop on the demo source.

For each resolution it measures, with the same stylizer:
- model only: the bare stylizer call in a loop (the peer every other number is compared with);
- throughput: the demo as a file-like source (every frame, no pacing) through the full pipeline;
- live: the demo paced like a 30 fps camera through the full pipeline, newest-frame policy:
  output fps, latency p50/p95 (capture -> output) and how many frames were dropped;
- live + recording: the same, also encoding to an H.264 file.

    python bench/pipeline.py                         # 360p and 720p, default style, auto backend
    python bench/pipeline.py --seconds 5 --sizes 640x360 --backend pytorch-cpu --markdown out.md
    python bench/pipeline.py --render-scale auto --loaded     # also beside one busy process

Uses the default shipped style if it is installed, else a randomly initialised network of the
default architecture (same cost per frame: weights do not change the arithmetic).
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.backends import busy_neighbour  # noqa: E402
from export.backends import create_stylizer  # noqa: E402
from realtime.pipeline import Pipeline, PipelineStats  # noqa: E402
from realtime.processor import FrameProcessor  # noqa: E402
from realtime.recorder import FileSink  # noqa: E402
from realtime.sources import DemoSource, parse_size  # noqa: E402
from training.checkpoint import DEFAULT_STYLE, list_styles, save_style  # noqa: E402
from training.model import StyleNetwork  # noqa: E402


def style_for_benchmark(workdir: Path) -> tuple[str, str]:
    """(style path or name, what it is)."""
    if any(s.name == DEFAULT_STYLE for s in list_styles()):
        return DEFAULT_STYLE, f"shipped style '{DEFAULT_STYLE}'"
    torch.manual_seed(0)
    path = save_style(StyleNetwork(), workdir / "untrained.safetensors", name="untrained")
    return str(path), "untrained network of the default architecture (no shipped style installed yet)"


def model_only_fps(processor: FrameProcessor, size: tuple[int, int], frames: int) -> float:
    """The bare stylizer, called from a worker thread like the pipeline's stylize stage does."""
    scene = DemoSource(size, live=False).scene
    images = [scene.render(i / 30) for i in range(frames)]
    seconds: list[float] = []

    def calls() -> None:
        for image in images:  # warm-up: allocations, lazy init, per-size compiles; `auto` settles on a scale
            processor.stylizer(image, 1.0)
        started = time.perf_counter()
        for image in images:
            processor.stylizer(image, 1.0)
        seconds.append(time.perf_counter() - started)

    worker = threading.Thread(target=calls)
    worker.start()
    worker.join()
    return frames / seconds[0]


def pipeline_run(processor: FrameProcessor, size: tuple[int, int], *, live: bool, seconds: float,
                 record_to: Path | None = None) -> PipelineStats:
    source = DemoSource(size, fps=30, live=live)
    sinks = [FileSink(record_to, fps=30, time_base=source.time_base)] if record_to else []
    frames = None if live else max(10, int(seconds * 10))
    return Pipeline(source, processor, sinks, max_frames=frames, max_seconds=seconds if live else None).run()


def benchmark(size: tuple[int, int], processor: FrameProcessor, seconds: float, workdir: Path) -> dict:
    peer = model_only_fps(processor, size, frames=10)
    throughput = pipeline_run(processor, size, live=False, seconds=seconds)
    live = pipeline_run(processor, size, live=True, seconds=seconds)
    recording = pipeline_run(processor, size, live=True, seconds=seconds, record_to=workdir / f"{size[1]}p.mp4")
    return {"size": size, "model_fps": peer, "throughput": throughput, "live": live, "recording": recording}


def markdown(results: list[dict], style_note: str, backend: str, seconds: float, title: str = "") -> str:
    lines = [
        "# Frame loop on CPU: end-to-end fps and latency (demo source)" + (f", {title}" if title else ""),
        "",
        f"- machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}",
        f"- backend: {backend}; style: {style_note}",
        f"- live runs: the demo paced as a 30 fps camera for {seconds:g} s; newest-frame policy",
        "- command: `python bench/pipeline.py`",
        "",
        "| input | model only fps | pipeline throughput fps (ratio) | live fps | live latency p50 / p95 ms "
        "| live dropped / captured | live + H.264 recording fps | recording latency p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        w, h = r["size"]
        t, lv, rec = r["throughput"], r["live"], r["recording"]
        lines.append(
            f"| {w}x{h} (scale {r.get('scale', 1.0):g}) | {r['model_fps']:.1f} | {t.fps:.1f} ({t.fps / r['model_fps']:.2f}x) | {lv.fps:.1f} "
            f"| {lv.latency_ms(50):.0f} / {lv.latency_ms(95):.0f} | {lv.dropped} / {lv.captured} "
            f"| {rec.fps:.1f} | {rec.latency_ms(50):.0f} / {rec.latency_ms(95):.0f} |")
    lines += ["", "Median milliseconds per stage (live + recording run):", ""]
    for r in results:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["recording"].stage_ms().items())
        lines.append(f"- {r['size'][0]}x{r['size'][1]}: {stages}")
    lines += ["", "Ratio = pipeline throughput / model-only fps (above 1: decoding, overlay and output overlap "
              "the model; below 1: they compete with it for the same CPU cores). The live latency includes "
              "up to one frame interval of waiting for the camera (33 ms at 30 fps)."]
    return "\n".join(lines) + "\n"


def measure_report(args: argparse.Namespace, title: str) -> str:
    """Every size through a fresh stylizer (created now, as `stylecast run` started now would be)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        style, note = style_for_benchmark(workdir)
        results = []
        for size in args.sizes.split(","):  # a fresh stylizer per size: `auto` adapts to each from the start
            processor = FrameProcessor(create_stylizer(style, args.backend, args.render_scale))
            results.append(benchmark(parse_size(size), processor, args.seconds, workdir))
            results[-1]["scale"] = getattr(processor.stylizer, "scale", 1.0)
    return markdown(results, note, processor.stylizer.name, args.seconds, title)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x360,1280x720", help="comma-separated WxH list")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each live run")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--render-scale", default="auto", help="as `stylecast run --render-scale` (default auto)")
    parser.add_argument("--loaded", action="store_true", help="run everything again beside one busy process")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    report = measure_report(args, "quiet")
    if args.loaded:
        neighbour = busy_neighbour()
        try:
            time.sleep(1.0)
            report += "\n" + measure_report(args, "beside one busy process (a spinning subprocess)")
        finally:
            neighbour.kill()
            neighbour.wait()
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
