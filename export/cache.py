"""Where exported ONNX files and TensorRT engines are kept, so the second start is instant.

Everything lives under `$STYLECAST_CACHE` (default `~/.cache/stylecast`). A cached file's name
carries a key made of everything its bytes depend on (the weights' hash, the exporter's version,
and for engines the GPU, TensorRT version and shape profile): a changed input is a new file,
never a stale one.
"""
from __future__ import annotations

import hashlib
import os
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
