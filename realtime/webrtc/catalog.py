"""The styles the page may pick from, and their preview thumbnails.

The browser only ever names a style from this catalog; it never sends a path, so a page cannot make
the server load arbitrary files. Pictures uploaded to the page join it (`add`), and so can be picked
again and blended: a blend mixes the pictures styles were made from (training/style_spec.py), so only
styles with a known picture are `blendable`.
"""
from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from styles import STYLES_DIR
from training.checkpoint import StyleInfo, list_styles
from training.style_spec import IMAGE_SUFFIXES

THUMBNAIL_PX = 160  # longest side of a picker thumbnail
MAX_ADDED = 12  # uploaded styles kept in the picker; older ones leave it (their cached files stay)


class StyleCatalog:
    """Shipped styles, plus an extra folder (--styles-dir), plus the style the server started with."""

    def __init__(self, current: StyleInfo, extra_dir: Path | None = None):
        found = list_styles() + (list_styles(extra_dir) if extra_dir is not None else []) + [current]
        self.styles: dict[str, StyleInfo] = {}
        for info in found:
            self.styles.setdefault(info.name, info)  # first wins: a shipped name cannot be shadowed
        self._thumbnails: dict[str, bytes | None] = {}
        self._added: list[str] = []

    def get(self, name: str) -> StyleInfo | None:
        return self.styles.get(name)

    def add(self, info: StyleInfo, description: str = "") -> bool:
        """A style made on the fly (an uploaded picture) joins the picker, unless its name is taken; the oldest
        added ones leave it past MAX_ADDED. True when it is new."""
        if info.name in self.styles:
            return False
        self.styles[info.name] = replace(info, description=description or info.description)
        self._added.append(info.name)
        while len(self._added) > MAX_ADDED:
            oldest = self._added.pop(0)
            self.styles.pop(oldest, None)
            self._thumbnails.pop(oldest, None)
        return True

    def blend_item(self, name: str) -> str | None:
        """What stands for the style in a blend spec ('NAME' or a picture's path), or None when it has no
        picture to blend: shipped styles with their picture in styles/images, and styles folded from one
        local picture (uploads, `serve --style painting.jpg`)."""
        info = self.styles.get(name)
        if info is None:
            return None
        picture = _folded_from(info)
        if picture is not None:
            return str(picture)
        if info.weights_path.parent == STYLES_DIR and re.fullmatch(r"[A-Za-z0-9_-]+", name) \
                and any((STYLES_DIR / "images").glob(f"{name}.*")):
            return name  # style_spec finds a shipped style's picture by its name
        return None

    def describe(self, thumbnail_url: str = "/styles/{name}/preview") -> list[dict[str, object]]:
        """JSON-ready list for the picker: name, description, thumbnail URL (None without a preview)."""
        return [
            {"name": name, "description": info.description,
             "preview": thumbnail_url.format(name=name) if self.thumbnail(name) is not None else None,
             "blendable": self.blend_item(name) is not None}
            for name, info in sorted(self.styles.items())
        ]

    def thumbnail(self, name: str) -> bytes | None:
        """A small JPEG of the style's preview image (cached), or None when it has none or it is unreadable."""
        if name not in self._thumbnails:
            self._thumbnails[name] = self._make_thumbnail(self.styles[name]) if name in self.styles else None
        return self._thumbnails[name]

    @staticmethod
    def _make_thumbnail(info: StyleInfo) -> bytes | None:
        """From the style's preview, else the picture it was folded from (an upload shows itself)."""
        path = info.preview_path if info.preview_path is not None else _folded_from(info)
        if path is None or not Path(path).is_file():
            return None
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                out = io.BytesIO()
                image.save(out, format="JPEG", quality=85)
                return out.getvalue()
        except (OSError, UnidentifiedImageError):
            return None


def _folded_from(info: StyleInfo) -> Path | None:
    """The local picture a style was folded from by the conditional network (its JSON's one ingredient), if any.
    The JSON may come from --styles-dir: every field is checked, nothing is trusted."""
    training = info.training
    ingredients = training.get("ingredients") if training.get("from") == "conditional" else None
    if not isinstance(ingredients, list) or len(ingredients) != 1 or not isinstance(ingredients[0], dict):
        return None
    label = ingredients[0].get("style")
    if not isinstance(label, str) or "," in label or Path(label).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    try:
        return Path(label) if Path(label).is_file() else None
    except (OSError, ValueError):  # a name the system cannot look up (too long, a NUL byte)
        return None
