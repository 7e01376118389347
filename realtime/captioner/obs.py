"""Live captions for OBS: a text file that an OBS "Text (GDI+/FreeType 2)" source reads from.

The file is rewritten atomically (temp file + rename) so OBS never reads half a line.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from realtime.captioner.base import Caption


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (readers see the old or the new content, never a mix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ObsTextFile:
    """A caption subscriber that keeps `path` holding the newest caption's text."""

    def __init__(self, path: Path):
        self.path = Path(path)
        write_atomically(self.path, "")

    def __call__(self, caption: Caption) -> None:
        write_atomically(self.path, caption.text)
