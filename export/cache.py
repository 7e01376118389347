"""Where exported ONNX files and TensorRT engines are kept, so the second start is instant.

Everything lives under `$STYLECAST_CACHE` (default `~/.cache/stylecast`). A cached file's name
carries a key made of everything its bytes depend on (the weights' hash, the exporter's version,
and for engines the GPU, TensorRT version and shape profile): a changed input is a new file,
never a stale one.

Pictures, blends and uploads make a new entry each (a blend slider dragged across makes a few), so the
folders that grow with use keep their most recently used `CACHE_LIMITS[kind]` entries: `used()` marks a
hit, `prune()` runs after each new entry. A running stream has its style in memory; pruning its files
costs at most a new export the next time that style is picked.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable


def cache_dir(kind: str) -> Path:
    """`$STYLECAST_CACHE/KIND` (default `~/.cache/stylecast/KIND`), created on demand."""
    root = Path(os.environ.get("STYLECAST_CACHE") or Path.home() / ".cache" / "stylecast")
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (weights are ~1 MB: reading them is cheaper than any stale-cache bug)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(*parts: object) -> str:
    """A short stable key (16 hex digits) for the given parts."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` then rename tmp onto `path`: a crash or a second process never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


CACHE_LIMITS = {"styles": 200, "onnx": 200, "uploads": 50}  # entries kept per folder (a style entry ~0.5 MB)
_ENTRY = re.compile(r"^([^.].*[-_][0-9a-f]{16,})")  # up to its (last) key: every file of one entry shares it;
# names starting with a dot are files still being written (write_atomically) and are never touched


def used(*paths: Path) -> None:
    """Mark cached files as just used (their mtime), so pruning drops the least recently used first."""
    for path in paths:
        try:
            os.utime(path)
        except OSError:
            pass  # gone or read-only: nothing to keep fresh


def prune(kind: str, keep: int | None = None) -> list[Path]:
    """Delete the least recently used entries of `cache_dir(kind)` beyond `keep` (default CACHE_LIMITS[kind]);
    returns what was deleted. Files of one entry (weights + JSON, an ONNX file + its FP16 copy) go together."""
    keep = CACHE_LIMITS[kind] if keep is None else keep
    entries: dict[str, list[Path]] = {}
    for path in cache_dir(kind).iterdir():
        match = _ENTRY.match(path.name)
        if path.is_file() and match:
            entries.setdefault(match.group(1), []).append(path)
    def last_used(files: list[Path]) -> float:
        times = []
        for file in files:
            try:
                times.append(file.stat().st_mtime)
            except OSError:
                pass
        return max(times, default=0.0)

    stale = sorted(entries.values(), key=last_used, reverse=True)[keep:]
    deleted = []
    for files in stale:
        for file in files:
            try:
                file.unlink()
                deleted.append(file)
            except OSError:
                pass  # another process pruned it first, or the folder is read-only
    return deleted
