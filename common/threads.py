"""The one place that decides how many CPU threads each compute engine may use, and how they wait.

Why it matters: torch and onnxruntime split each op over N threads that meet at a barrier. When another
busy process holds one of the cores, every barrier waits for the descheduled thread, and a 2-thread job
runs 10-50x slower than a 1-thread one (measured: 4.8 s vs 0.1 s per training step). So a job takes the
cores that are idle now, not the cores that exist.

Every engine asks here: torch (`set_torch_threads`), ONNX Runtime (`configure_onnxruntime`), OpenVINO
(`openvino_config`), OpenCV in the
frame loop (`set_opencv_threads`), helper processes such as the captioner (`make_background_process`) and a
style being prepared beside the frame loop (`run_in_background`).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

BUSY_SAMPLE_S = 0.3  # how long `busy_cores_now` watches /proc/stat (a bursty neighbour shows up)


def cpu_count() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores from /proc/stat (Linux), None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores_now(window_s: float = BUSY_SAMPLE_S) -> float | None:
    """Cores other processes keep busy right now (sampled over `window_s`), None where unknown.

    The load average lags a new neighbour by up to a minute; this sees it at once.
    """
    first, own_first, started = _cpu_ticks(), time.process_time(), time.monotonic()
    if first is None:
        return None
    time.sleep(window_s)
    second, own, elapsed = _cpu_ticks(), time.process_time() - own_first, time.monotonic() - started
    if second is None or second[1] <= first[1]:
        return None
    everyone = (os.cpu_count() or 1) * (second[0] - first[0]) / (second[1] - first[1])
    return max(0.0, everyone - own / max(elapsed, 1e-6))  # our own threads are not a neighbour


def idle_cores() -> int:
    """Cores not busy with other work, at least 1: sampled now where /proc/stat exists, else from the
    1-minute load average (which lags a neighbour that just started or just stopped by up to a minute)."""
    busy = busy_cores_now()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
    return max(1, min(cpu_count(), int(cpu_count() - busy + 0.5)))


def decide_threads(requested: int = 0) -> int:
    """`requested` if > 0, else $OMP_NUM_THREADS if set, else the idle cores."""
    if requested > 0:
        return requested
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return idle_cores()


def set_torch_threads(requested: int = 0) -> int:
    """Apply `decide_threads` to torch (intra-op) and return the count used."""
    import torch

    threads = decide_threads(requested)
    torch.set_num_threads(threads)
    log.info("torch CPU threads: %d (of %d cores; --threads to change)", threads, cpu_count())
    return threads


def configure_onnxruntime(options, requested: int = 0) -> int:
    """Set an `onnxruntime.SessionOptions` for a frame loop; returns the intra-op threads chosen.

    - intra-op threads from `decide_threads` (a 2-thread session beside a busy process waits at every
      op's barrier for the thread that lost its core);
    - workers spin inside a run and stop at its end (`force_spinning_stop`): waking a sleeping worker
      for each of the graph's ~100 parallel ops cost 15.7 vs 13.2 ms a frame at 640x360 on 2 cores, while
      CPU time per frame stayed 25-27 ms either way. Spinning *between* runs (ORT's default) burned 45 ms
      of CPU per frame, the cycles the capture, encoder and caption threads need;
    - sequential execution, one inter-op thread: the graph is a chain, parallel branches buy nothing.
    """
    import onnxruntime as ort

    threads = decide_threads(requested)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return threads


def openvino_config(requested: int = 0) -> dict[str, object]:
    """OpenVINO CPU plugin settings for a frame loop: `decide_threads` threads, one stream, latency mode."""
    return {"INFERENCE_NUM_THREADS": decide_threads(requested), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}


def set_opencv_threads(threads: int = 1) -> None:
    """OpenCV's own pool: one thread. The frame loop already runs capture, styling, overlay and output in
    parallel; a resize that also fans out over every core only fights the model for them."""
    import cv2

    cv2.setNumThreads(threads)


BACKGROUND_NICE = 10  # a share of a busy core (~10 %), not none: a switch still finishes while a file runs flat out
_ONE_PREPARATION = threading.Lock()


def run_in_background(work: Callable[[], T], *, single_torch_thread: bool = True) -> T:
    """Run `work` (preparing a new style beside a running frame loop) on a fresh thread at a lower CPU priority,
    on one torch thread, and wait for its result (its exception is raised here).

    Why: the preparation (the picture's code, the fold, the colour calibration, the ONNX export) took the core the
    model's second thread needed: at 640x360 the p95 frame time went 12 -> 51 ms during a switch; on a niced
    thread with one torch thread, 12.5 -> 17 ms. A fresh thread because a thread's nice value cannot be raised
    back without privileges (Linux; elsewhere the thread keeps its priority). The torch thread count set here
    holds for this thread only where torch already runs on the others (OpenMP keeps one count per thread);
    `single_torch_thread=False` where torch runs the frames (pytorch-cpu). One preparation at a time: the
    worker holds the lock, so an interrupted caller does not let a second one start beside it."""
    outcome: dict[str, object] = {}

    def body() -> None:
        with _ONE_PREPARATION:
            try:
                lower_thread_priority(BACKGROUND_NICE)
                import torch

                threads = torch.get_num_threads()
                try:
                    if single_torch_thread:
                        torch.set_num_threads(1)
                    outcome["result"] = work()
                finally:
                    torch.set_num_threads(threads)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                outcome["error"] = exc

    thread = threading.Thread(target=body, name="stylecast-prepare", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def lower_thread_priority(by: int) -> None:
    """Raise the calling thread's nice value by `by` (Linux, where it is per thread; elsewhere nothing: there the
    call would renice the whole process, frame loop included)."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + by))
    except OSError:
        pass


def make_background_process(idle_priority: bool = True) -> None:
    """Call inside a helper process (the captioner's detectors): run only on CPU time the frame loop leaves
    idle, with one OpenCV thread.

    SCHED_IDLE rather than a nice level: the styling backends run tightly synchronised threads, and even a
    low-priority neighbour that takes a core now and then stalls them."""
    try:
        if not idle_priority:
            os.nice(10)
        else:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the next best thing
        try:
            os.nice(19)
        except OSError:
            pass
    os.environ["OMP_NUM_THREADS"] = "1"
    set_opencv_threads(1)
