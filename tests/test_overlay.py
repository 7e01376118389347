"""The subtitle overlay: only the subtitle region changes, text is readable (CJK too), fades, renders once."""
from __future__ import annotations

import numpy as np
import pytest

from common.errors import UserError
from realtime import overlay as overlay_module
from realtime.captioner.base import Caption
from realtime.overlay import SubtitleOverlay, balanced_wrap, load_font, wrap_text

W, H = 320, 180


def background() -> np.ndarray:
    ys, xs = np.mgrid[0:H, 0:W]
    return np.stack([xs % 256, ys * 255 // H, (xs + ys) % 256], -1).astype(np.uint8)


def changed_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.any(a != b, axis=-1))
    return ys.min(), ys.max(), xs.min(), xs.max()


def test_only_the_subtitle_region_changes() -> None:
    overlay = SubtitleOverlay("en")
    caption = Caption("There's someone in the middle, hi there! Nice warm tones, lots of red and orange.", 1.0, 4.0)
    image = background()
    out = overlay.draw(image, caption, 3.0)
    assert np.array_equal(image, background())  # the input frame is left alone
    top, bottom, left, right = changed_box(image, out)
    rgb, _ = overlay.render(caption.text, W, H)
    x, y = overlay.region(W, H, rgb)
    assert top >= y and bottom < y + rgb.shape[0] and left >= x and right < x + rgb.shape[1]
    assert top > H // 2  # at the bottom
    strip = out[y:y + rgb.shape[0], x:x + rgb.shape[1]].astype(int)
    assert (strip.min(-1) > 230).mean() > 0.02  # white text ...
    assert (strip.max(-1) < 40).mean() > 0.05  # ... with a dark outline/box: readable on any picture
    assert rgb.shape[0] > 2 * 12 and rgb.shape[1] <= W  # wrapped onto several lines inside the frame


def test_no_caption_or_outside_its_time_leaves_the_frame_alone() -> None:
    overlay = SubtitleOverlay("en")
    caption = Caption("hello", 1.0, 2.0)
    for pts in (0.5, 3.0, 9.0):
        assert np.array_equal(overlay.draw(background(), caption, pts), background())
    assert np.array_equal(overlay.draw(background(), None, 1.5), background())


def test_fades_in_and_out_and_renders_once() -> None:
    overlay = SubtitleOverlay("en", fade_s=0.3)
    caption = Caption("Everything's nice and still.", 1.0, 2.0)
    strength = {}
    for pts in np.arange(1.0, 3.0, 0.05):
        out = overlay.draw(background(), caption, float(pts))
        strength[round(float(pts), 2)] = np.abs(out.astype(int) - background()).sum()
    assert strength[1.0] < strength[1.1] < strength[1.5] and strength[2.95] < strength[2.5]
    assert strength[1.5] == strength[2.0]  # fully shown in the middle
    assert overlay.renders == 1  # the text image is cached; frames only blend


def test_chinese_is_drawn_with_real_glyphs() -> None:
    overlay = SubtitleOverlay("zh")
    cat, dog = (overlay.render(text, W, H)[1] for text in ("猫猫猫", "狗狗狗"))
    assert cat.shape == dog.shape and not np.array_equal(cat, dog)  # missing glyphs would be identical boxes
    font = load_font("zh", 20)
    lines = wrap_text("中间有个人，你好呀！色调好温暖，红色和橙色为主。" * 2, font, 200)
    assert len(lines) >= 3 and all(font.getlength(line) <= 200 for line in lines)
    assert "".join(lines) == "中间有个人，你好呀！色调好温暖，红色和橙色为主。" * 2
    assert not any(line[0] in "，。！" for line in wrap_text("画面里有两个人，左边一个和右边一个。画面很安静。", font, 60))


@pytest.mark.parametrize("width", range(220, 480, 20))  # 11-24 characters: real captions fit ~20
def test_chinese_never_breaks_inside_a_word(width: int) -> None:
    """The issue's "mosaic风/格很有味道": lines break after punctuation or particles only."""
    font = load_font("zh", 20)
    text = "哇，换了个地方。mosaic风格很有味道。我看到中间有一张脸，笑容好灿烂！"
    lines = wrap_text(text, font, width)
    assert "".join(lines) == text and all(font.getlength(line) <= width for line in lines)
    for line in lines[:-1]:
        assert line[-1] in "，。！？的了呢吧啊呀哦吗", lines


def test_missing_chinese_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlay_module, "find_font", lambda lang: None)
    with pytest.raises(UserError, match="fonts-wqy-microhei"):
        SubtitleOverlay("zh")


def test_english_wraps_at_spaces() -> None:
    font = load_font("en", 20)
    lines = wrap_text("one two three four five six seven eight nine ten", font, 120)
    assert len(lines) > 1 and " ".join(lines) == "one two three four five six seven eight nine ten"


@pytest.mark.parametrize("lang, text", [
    ("en", "There's someone in the middle, hi there! Someone's smiling, love it. Facing us head-on!"),
    ("en", "Okay, something just changed. Somebody's right there in the middle. A bit far away."),
    ("zh", "哎，换场景了！中间有个人，你好呀！而且笑得挺开心的！正对着镜头呢。"),
])
def test_lines_break_where_a_reader_pauses(lang: str, text: str) -> None:
    """As many lines as the greedy wrap, but broken between sentences when they fit (greedy leaves "A / bit far
    away." or "Facing us / head-on!"), never past the width."""
    font = load_font(lang, 28)
    width = 600 if lang == "en" else 460
    greedy, balanced = wrap_text(text, font, width), balanced_wrap(text, font, width)
    assert len(balanced) == len(greedy) >= 2
    joiner = "" if lang == "zh" else " "
    assert joiner.join(balanced) == joiner.join(greedy) == text
    assert all(font.getlength(line) <= width for line in balanced)
    assert all(line[-1] in ".!?。！？" for line in balanced), balanced
