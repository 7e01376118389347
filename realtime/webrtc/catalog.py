"""The styles the page may pick from, and their preview thumbnails.

The browser only ever names a style from this catalog; it never sends a path, so a page cannot make
the server load arbitrary files.
"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from training.checkpoint import StyleInfo, list_styles

THUMBNAIL_PX = 160  # longest side of a picker thumbnail


class StyleCatalog:
    """Shipped styles, plus an extra folder (--styles-dir), plus the style the server started with."""

    def __init__(self, current: StyleInfo, extra_dir: Path | None = None):
        found = list_styles() + (list_styles(extra_dir) if extra_dir is not None else []) + [current]
        self.styles: dict[str, StyleInfo] = {}
        for info in found:
            self.styles.setdefault(info.name, info)  # first wins: a shipped name cannot be shadowed
        self._thumbnails: dict[str, bytes | None] = {}

    def get(self, name: str) -> StyleInfo | None:
        return self.styles.get(name)

    def describe(self, thumbnail_url: str = "/styles/{name}/preview") -> list[dict[str, object]]:
        """JSON-ready list for the picker: name, description, thumbnail URL (None without a preview)."""
        return [
            {"name": name, "description": info.description,
             "preview": thumbnail_url.format(name=name) if self.thumbnail(name) is not None else None}
            for name, info in sorted(self.styles.items())
        ]

    def thumbnail(self, name: str) -> bytes | None:
        """A small JPEG of the style's preview image (cached), or None when it has none or it is unreadable."""
        if name not in self._thumbnails:
            self._thumbnails[name] = self._make_thumbnail(self.styles[name]) if name in self.styles else None
        return self._thumbnails[name]

    @staticmethod
    def _make_thumbnail(info: StyleInfo) -> bytes | None:
        if info.preview_path is None or not Path(info.preview_path).is_file():
            return None
        try:
            with Image.open(info.preview_path) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                out = io.BytesIO()
                image.save(out, format="JPEG", quality=85)
                return out.getvalue()
        except (OSError, UnidentifiedImageError):
            return None
