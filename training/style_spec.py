"""Any picture as a style, and blends: `--style painting.jpg`, `--style https://.../x.png`,
`--style "starry_night:0.7,scream:0.3"`.

Such a spec becomes an ordinary style checkpoint: the picture's style code (training/style_code.py), or a
weighted mix of several codes, goes through the conditional network once (training/conditional.py) and
its folded StyleNetwork is saved under the cache, keyed by the code and the network. Everything
downstream (every backend, ONNX, TensorRT, the preview, the browser page) loads it like a shipped style,
so a picture costs one style code (~0.3 s) and one save the first time, and nothing per frame.

Pictures are read with Pillow after checking their header: a decompression bomb, a 1x1 image, a file that
is not a picture or is cut short each get one clear line. Transparent pixels are laid over white, greys
become RGB. Only a URL the user typed is downloaded (size-capped).
"""
from __future__ import annotations

import hashlib
import math
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.errors import UserError, describe_os_error, first_line

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
MAX_PIXELS = 40_000_000  # a 40 MP painting is plenty; a 30000x30000 "image" is a decompression bomb
MIN_SIDE = 16  # px: smaller has no strokes or palette to speak of
CODE_SIDE = 1024  # px: the long side pictures are scaled to before their code is computed
MAX_DOWNLOAD = 32 << 20  # bytes
BLEND_ITEM = re.compile(r"^(?P<style>.+?):(?P<weight>[^:/\\]+)$")


@dataclass
class Ingredient:
    """One part of a style spec: a shipped style's picture or a user's picture, and its weight."""

    label: str
    image: np.ndarray  # HxWx3 uint8 RGB
    weight: float = 1.0


def is_picture_spec(spec: str) -> bool:
    """Whether --style names a picture (a file or URL with an image extension) or a blend (has 'NAME:WEIGHT').
    A checkpoint path is never one, whatever commas or colons its folders have."""
    if spec.startswith(("http://", "https://")):
        return True
    if Path(spec).suffix.lower() in (".safetensors", ".json"):
        return False
    return Path(spec).suffix.lower() in IMAGE_SUFFIXES or ("," in spec or BLEND_ITEM.match(spec) is not None)


def read_picture(data: bytes, label: str) -> np.ndarray:
    """Bytes of a picture -> HxWx3 uint8 RGB (at most CODE_SIDE px long), or UserError saying what is wrong."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UserError(f"{label}: {width}x{height} is too large for a style picture "
                                f"(at most {MAX_PIXELS // 1_000_000} megapixels)")
            if min(width, height) < MIN_SIDE:
                raise UserError(f"{label}: {width}x{height} is too small for a style picture "
                                f"(at least {MIN_SIDE} px on each side)")
            image.draft("RGB", (CODE_SIDE, CODE_SIDE))  # JPEG: decode at a reduced size directly
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                picture = Image.new("RGB", rgba.size, (255, 255, 255))
                picture.paste(rgba, mask=rgba.getchannel("A"))
            else:
                picture = image.convert("RGB")
    except Image.DecompressionBombError:
        raise UserError(f"{label}: too large for a style picture (its header claims over "
                        f"{Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels: a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise UserError(f"{label}: not a picture Pillow can read (JPEG, PNG, WebP, BMP, TIFF, GIF)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{label}: damaged or cut-short picture ({first_line(exc, 120)})") from None
    picture.thumbnail((CODE_SIDE, CODE_SIDE))
    return np.asarray(picture, dtype=np.uint8).copy()


def fetch_picture(url: str) -> bytes:
    """Download a picture the user named, up to MAX_DOWNLOAD bytes."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            data = response.read(MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UserError(f"cannot download {url}: {reason}") from None
    if len(data) > MAX_DOWNLOAD:
        raise UserError(f"{url}: larger than {MAX_DOWNLOAD >> 20} MB; save a smaller picture and use the file")
    return data


def picture_bytes(spec: str) -> bytes:
    if spec.startswith(("http://", "https://")):
        return fetch_picture(spec)
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"style picture not found: {spec}")
    if path.stat().st_size > MAX_DOWNLOAD * 4:
        raise UserError(f"{spec}: {path.stat().st_size >> 20} MB is too large for a style picture")
    return path.read_bytes()


def shipped_picture(name: str) -> np.ndarray | None:
    """The picture a shipped style was trained from (styles/images/NAME.*), if it is installed."""
    from styles import STYLES_DIR

    folder = STYLES_DIR / "images"
    for path in sorted(folder.glob(f"{name}.*")):
        return read_picture(path.read_bytes(), str(path))
    return None


def parse_spec(spec: str) -> list[Ingredient]:
    """'a.jpg' | URL | 'name:0.7,b.png:0.3' -> ingredients; UserError for unknown names and bad weights."""
    items = [item.strip() for item in spec.split(",")] if "," in spec or BLEND_ITEM.match(spec) else [spec]
    ingredients = []
    for item in items:
        match = BLEND_ITEM.match(item)  # 'NAME:0.7'; a URL's own colons are followed by '/', never a weight
        style, weight_text = (match["style"], match["weight"]) if match else (item, "1")
        try:
            weight = float(weight_text)
        except ValueError:
            raise UserError(f"--style {spec!r}: weight {weight_text!r} of '{style}' is not a number "
                            "(write NAME:WEIGHT, e.g. starry_night:0.7,scream:0.3)") from None
        if not math.isfinite(weight) or weight < 0:
            raise UserError(f"--style {spec!r}: weight {weight_text} of '{style}' must be a number >= 0")
        label = style if style.startswith(("http://", "https://")) or not Path(style).is_file() else str(Path(style).resolve())
        ingredients.append(Ingredient(label, _ingredient_picture(style), weight))
    if not ingredients or sum(i.weight for i in ingredients) <= 0:
        raise UserError(f"--style {spec!r}: the weights add up to 0; give at least one a positive weight")
    return ingredients


def _ingredient_picture(style: str) -> np.ndarray:
    if style.startswith(("http://", "https://")) or Path(style).suffix.lower() in IMAGE_SUFFIXES:
        return read_picture(picture_bytes(style), style)
    if Path(style).is_dir():
        raise UserError(f"{style} is a folder: give one picture (a folder of one style is for `stylecast train`)")
    picture = shipped_picture(style) if re.fullmatch(r"[A-Za-z0-9_-]+", style) else None
    if picture is None:
        from training.checkpoint import list_styles

        names = ", ".join(s.name for s in list_styles())
        raise UserError(f"unknown style '{style}' in a blend (shipped styles: {names}; or a picture file or URL)")
    return picture


_CODES: dict[str, np.ndarray] = {}  # picture digest -> style code: a blend slider re-uses its pictures' codes


def mixed_code(ingredients: list[Ingredient]) -> torch.Tensor:
    from training.conditional import mix_codes
    from training.style_code import style_code

    codes = []
    for ingredient in ingredients:
        digest = hashlib.sha256(ingredient.image.tobytes()).hexdigest()
        if digest not in _CODES:
            if len(_CODES) >= 32:
                _CODES.pop(next(iter(_CODES)))
            _CODES[digest] = style_code(ingredient.image)
        codes.append(torch.from_numpy(_CODES[digest]))
    return mix_codes(codes, [i.weight for i in ingredients])


def style_name(ingredients: list[Ingredient]) -> str:
    """A plain name for the folded style ('painting', 'starry_night-70-scream-30')."""
    if len(ingredients) == 1:
        stem = Path(ingredients[0].label.split("?")[0].rstrip("/")).stem or "picture"
        return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)[:40] or "picture"
    total = sum(i.weight for i in ingredients)
    parts = [f"{re.sub(r'[^A-Za-z0-9_]+', '_', Path(i.label).stem)[:20]}-{round(100 * i.weight / total)}"
             for i in ingredients]
    return "-".join(parts)[:80]


FOLD_VERSION = 3  # bump when what a code becomes changes: ConditionalStyleNetwork.fixed(), the style code, or the
# colour calibration (its photos, its solver, StyleNetwork.colour_logits)
# (2: the folded network passes the input's finest detail through, conditional.FOLDED_DETAIL;
#  3: its mean colour is calibrated to the painting's, training/calibration.py)


def materialize(spec: str, conditional: Path | None = None) -> Path:
    """The style checkpoint for a picture or blend spec: folded from the conditional network, cached by the
    network's files, the fold's version and the code (the same picture twice is one entry)."""
    from export.cache import cache_dir, cache_key, file_sha256, prune, used
    from training.calibration import calibrate_mean_colour
    from training.checkpoint import read_style_info, save_style
    from training.conditional import default_conditional, load_conditional
    from training.style_code import EMBEDDING_SIZE

    conditional = Path(conditional or default_conditional())
    ingredients = parse_spec(spec)
    code = mixed_code(ingredients)
    name = style_name(ingredients)
    if not conditional.is_file():
        load_conditional(conditional)  # says what is missing and how to get it
    key = cache_key(file_sha256(conditional), file_sha256(conditional.with_suffix(".json")), FOLD_VERSION,
                    hashlib.sha256(code.numpy().tobytes()).hexdigest())
    path = cache_dir("styles") / f"{name}-{key}.safetensors"
    try:  # a hit: the weights (written last) and a readable JSON; anything less is rebuilt
        if path.is_file() and read_style_info(path):
            used(path, path.with_suffix(".json"))
            return path
    except UserError:
        pass
    network = load_conditional(conditional).fixed(code)
    shift = calibrate_mean_colour(network, code[EMBEDDING_SIZE:EMBEDDING_SIZE + 3])  # the code's mean RGB
    try:
        save_style(network, path, name=name, description=f"from {spec}"[:200],
                   training={"from": "conditional", "conditional": str(conditional),
                             "ingredients": [{"style": i.label, "weight": i.weight} for i in ingredients],
                             "colour_shift": [round(float(v), 4) for v in shift]})
    except OSError as exc:  # a full or read-only cache: one line, the old style keeps running
        raise UserError(f"cannot save the style for {spec!r}: {describe_os_error(exc)}") from None
    prune("styles")
    return path
