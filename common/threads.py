"""The one place that decides how many CPU threads a compute engine may use.

Why it matters: torch and onnxruntime split each op over N threads that meet at a barrier. When another
busy process holds one of the cores, every barrier waits for the descheduled thread, and a 2-thread job
runs 10-50x slower than a 1-thread one (measured: 4.8 s vs 0.1 s per training step). So a job takes the
cores that are idle now, not the cores that exist.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def cpu_count() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def idle_cores() -> int:
    """Cores not busy with other work, from the 1-minute load average; at least 1."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cpu_count()
    return max(1, min(cpu_count(), int(cpu_count() - load + 0.5)))


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
