"""SubtitleOverlay: burn the active caption into frames, cheaply.

Each caption is rendered once (Pillow: wrapped to the frame width, white text with a dark outline on a
translucent box, CJK through a CJK font) into a small RGBA strip; per frame only that strip is blended
into the bottom of the picture, with a short fade in and out. Nothing outside the strip is touched.
"""
from __future__ import annotations

import functools
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.errors import UserError
from realtime.captioner.base import Caption

FADE_S = 0.3  # fade in/out time, seconds of video
BOX_ALPHA = 0.55  # opacity of the dark box behind the text
CJK_FONTS = [  # Debian/Ubuntu packages: fonts-wqy-microhei, fonts-wqy-zenhei, fonts-noto-cjk, fonts-arphic-*
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
]
NO_LINE_START = set("，。！？、；：）」』》,.!?;:)")  # punctuation that must not begin a line (stays at the end)
LATIN_FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"]


@functools.lru_cache(maxsize=None)
def find_font(lang: str) -> str | None:
    """A font file that can draw `lang` ('zh' needs CJK glyphs), or None."""
    candidates = list(CJK_FONTS) if lang == "zh" else LATIN_FONTS + CJK_FONTS
    try:
        query = ":lang=zh" if lang == "zh" else ":lang=en"
        listed = subprocess.run(["fc-list", query, "file"], capture_output=True, text=True, timeout=5).stdout
        candidates += sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return next((path for path in candidates if path and Path(path).is_file()), None)


def load_font(lang: str, size: int, font_path: str | None = None) -> ImageFont.ImageFont:
    """The caption font at `size` px; a clear error when Chinese is asked for and no CJK font exists."""
    path = font_path or find_font(lang)
    if path is None and lang == "zh":
        raise UserError("no Chinese font found for --caption-lang zh: install one "
                        "(apt-get install fonts-wqy-microhei, or fonts-noto-cjk)")
    if path is None:
        warnings.warn("no TrueType font found; captions use Pillow's built-in font", stacklevel=2)
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


CJK = re.compile(r"[\u2e80-\uffff]")
# Chinese lines break only after punctuation or a sentence particle, so a word ("风格") is never split;
# a phrase too long for a whole line falls back to breaking between characters.
CJK_BREAK_AFTER = "，。！？、；：的了呢吧啊呀哦吗"
CJK_PHRASE = re.compile(rf"[^{CJK_BREAK_AFTER}\s]*[{CJK_BREAK_AFTER}]+|[^{CJK_BREAK_AFTER}\s]+|\s+")


def _tokens(text: str, font: ImageFont.ImageFont, max_width: float) -> list[str]:
    """The pieces a line may break between: words (English) or phrases (Chinese)."""
    if not CJK.search(text):
        return re.findall(r"\S+\s*|\s+", text)
    tokens = []
    for phrase in CJK_PHRASE.findall(text):
        fits = font.getlength(phrase.strip()) <= max_width
        tokens += [phrase] if fits else re.findall(r"[\u2e80-\uffff]|[^\s\u2e80-\uffff]+\s*|\s+", phrase)
    return tokens


def wrap_text(text: str, font: ImageFont.ImageFont, max_width: float) -> list[str]:
    """Greedy wrap to `max_width` px: at spaces for English, after punctuation/particles for Chinese."""
    lines, current = [], ""
    for token in _tokens(text, font, max_width):
        if current and font.getlength((current + token).rstrip()) > max_width and token[0] not in NO_LINE_START:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current += token
    if current.strip():
        lines.append(current.rstrip())
    return lines


SENTENCE_END, CLAUSE_END = ".!?。！？", ",;:，、；：的了呢吧啊呀哦吗"


def _break_cost(token: str, max_width: float) -> float:
    """What breaking a line after `token` costs: nothing after a sentence, a little after a clause, a whole
    line's worth of raggedness inside one (so "...in the middle. A / bit far away." is a last resort)."""
    end = token.rstrip()[-1:]
    return 0.0 if end and end in SENTENCE_END else (0.3 if end and end in CLAUSE_END else 1.0) * max_width ** 2


def balanced_wrap(text: str, font: ImageFont.ImageFont, max_width: float) -> list[str]:
    """As many lines as wrap_text() needs, broken where a reader pauses (after a sentence, then a clause) and as
    even as they can be, as subtitles are set by hand: no lone word on the last line, no sentence cut in two
    when whole sentences fit. Each line's cost is its unused width squared plus the cost of its break."""
    greedy = wrap_text(text, font, max_width)
    tokens = _tokens(text, font, max_width)
    if len(greedy) < 2 or len(tokens) > 80:
        return greedy
    count, n = len(greedy), len(tokens)

    @functools.lru_cache(maxsize=None)
    def width(i: int, j: int) -> float:  # measured on demand: only spans that may fit on a line
        return font.getlength("".join(tokens[i:j]).strip())

    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(count + 1)]  # best[k][j]: tokens[:j] set in k lines
    start = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        for j in range(1, n + 1):
            for i in range(j - 1, k - 2, -1):
                if width(i, j) > max_width:
                    break  # starting earlier only makes the line longer
                if best[k - 1][i] == inf or (i > 0 and tokens[i].lstrip()[:1] in NO_LINE_START):
                    continue
                cost = best[k - 1][i] + (max_width - width(i, j)) ** 2
                cost += _break_cost(tokens[j - 1], max_width) if j < n else 0.0
                if cost < best[k][j]:
                    best[k][j], start[k][j] = cost, i
    if best[count][n] == inf:
        return greedy
    lines, j = [], n
    for k in range(count, 0, -1):
        i = start[k][j]
        lines.append("".join(tokens[i:j]).strip())
        j = i
    return lines[::-1]


class SubtitleOverlay:
    """The CaptionRenderer of `run` and `serve`: bottom-centred subtitles with fade, rendered once per caption."""

    def __init__(self, lang: str = "en", font_path: str | None = None, fade_s: float = FADE_S):
        self.lang = lang
        self.font_path = font_path
        self.fade_s = fade_s
        load_font(lang, 16, font_path)  # fail now (clear message), not on the first caption
        self._cache: tuple[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] | None = None
        self.renders = 0  # how many times text was rasterised (the cache keeps this to one per caption)

    def render(self, text: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """The caption strip for a WxH frame: (rgb hxwx3 float32, alpha hxwx1 float32 0..1), cached."""
        key = (text, width, height)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._rasterise(text, width, height))
            self.renders += 1
        return self._cache[1]

    def _rasterise(self, text: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        size = max(12, round(min(height / 16, width / 24)))
        font = load_font(self.lang, size, self.font_path)
        pad, outline = max(4, size // 3), max(1, size // 12)
        lines = balanced_wrap(text, font, width * 0.9 - 2 * pad)[:3]
        spacing = size // 4
        line_h = size + spacing
        text_w = max(font.getlength(line) for line in lines)
        box_w = min(width, int(text_w) + 2 * pad + 2 * outline)
        box_h = len(lines) * line_h + 2 * pad
        strip = Image.new("RGBA", (box_w, box_h), (0, 0, 0, int(255 * BOX_ALPHA)))
        draw = ImageDraw.Draw(strip)
        for i, line in enumerate(lines):
            x = (box_w - font.getlength(line)) / 2
            draw.text((x, pad + i * line_h), line, font=font, fill=(255, 255, 255, 255),
                      stroke_width=outline, stroke_fill=(0, 0, 0, 255))
        rgba = np.asarray(strip, dtype=np.float32)
        return rgba[..., :3], rgba[..., 3:] / 255.0

    def region(self, width: int, height: int, strip: np.ndarray) -> tuple[int, int]:
        """Top-left (x, y) of the strip in the frame: centred, a little above the bottom edge."""
        h, w = strip.shape[:2]
        return (width - w) // 2, max(0, height - h - max(4, height // 20))

    def opacity(self, caption: Caption, pts: float) -> float:
        """0..1: fades in over fade_s after the start and out over fade_s before the end."""
        if not caption.start <= pts < caption.end:
            return 0.0
        if self.fade_s <= 0:
            return 1.0
        return float(min(1.0, (pts - caption.start) / self.fade_s + 0.1, (caption.end - pts) / self.fade_s))

    def draw(self, image: np.ndarray, caption: Caption | None, pts: float) -> np.ndarray:
        """image: HxWx3 uint8 RGB; returns a copy with the caption blended in.

        A copy, because with the style off `image` is the source frame that the captioner may still be
        looking at; copying a frame costs far less than styling it.
        """
        if caption is None:
            return image
        opacity = self.opacity(caption, pts)
        if opacity <= 0.0:
            return image
        height, width = image.shape[:2]
        rgb, alpha = self.render(caption.text, width, height)
        x, y = self.region(width, height, rgb)
        h, w = min(rgb.shape[0], height - y), min(rgb.shape[1], width - x)
        image = image.copy()
        patch = image[y:y + h, x:x + w].astype(np.float32)
        a = alpha[:h, :w] * opacity
        image[y:y + h, x:x + w] = (rgb[:h, :w] * a + patch * (1.0 - a) + 0.5).astype(np.uint8)
        return image
