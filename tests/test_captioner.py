"""The narration says what is in the picture and nothing else (English and Chinese), and the
service runs beside the frame loop: offer() never waits, captions are timed in pts."""
from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
import skimage.data

from realtime.captioner.narrator import OfflineNarrator
from realtime.captioner.scene import SceneFacts, measure, motion_between
from realtime.captioner.cascade import Box
from realtime.captioner.service import CaptionService, Observation
from realtime.captioner.timing import reading_seconds
from realtime.frames import Frame
from clips import pattern

PEOPLE = {"en": r"\b(face|faces|person|people|someone|somebody|folks|smil\w*)\b", "zh": r"[人脸笑]"}
CATS = {"en": r"\b(cat|cats|kitty|kitties)\b", "zh": r"猫"}
DARK = {"en": r"\b(dark|dim)\b", "zh": r"暗"}
BUSY = {"en": r"\b(movement|moving|action)\b", "zh": r"动"}
STILL = {"en": r"\b(still|calm|steady|not much moving)\b", "zh": r"(安静|静悄悄|不动|平静|不怎么动)"}
LANGS = ["en", "zh"]


def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def two_faces() -> np.ndarray:
    image = astronaut()
    return np.concatenate([image, image[:, ::-1]], axis=1)


@pytest.fixture(scope="module")
def facts() -> dict[str, SceneFacts]:
    """Each test picture measured once (detectors are the slow part)."""
    dark = (astronaut() * 0.08).astype(np.uint8)
    moving = pattern(0, 320, 180), pattern(6, 320, 180)
    return {
        "one_face": measure(astronaut(), style="mosaic"),
        "two_faces": measure(two_faces(), style="mosaic"),
        "cat_photo": measure(skimage.data.chelsea(), style="mosaic"),
        "dark": measure(dark, motion=0.0, style="mosaic"),
        "moving": measure(moving[1], motion=motion_between(*moving), style="mosaic"),
        "still": measure(moving[0], motion=motion_between(moving[0], moving[0]), style="mosaic"),
    }


def lines(f: SceneFacts, lang: str, count: int = 6) -> list[str]:
    narrator = OfflineNarrator(lang, seed=7)
    return [narrator.compose(f) for _ in range(count)]


def mentions(pattern_by_lang: dict[str, str], lang: str, text: str) -> bool:
    return re.search(pattern_by_lang[lang], text, flags=re.IGNORECASE) is not None


def test_measures_known_content(facts: dict[str, SceneFacts]) -> None:
    assert len(facts["one_face"].faces) == 1 and facts["one_face"].where(facts["one_face"].faces[0]) == "centre"
    assert facts["one_face"].smiles == 1  # she is smiling (the smile cascade runs on the face's lower half)
    two = facts["two_faces"]
    assert len(two.faces) == 2 and sorted(two.where(b) for b in two.faces) == ["left", "right"]
    assert not facts["dark"].faces and facts["dark"].brightness < 0.1
    assert not facts["moving"].faces and not facts["moving"].cats and not facts["moving"].bodies
    assert facts["moving"].motion > 0.06 and facts["still"].motion == 0.0
    assert not facts["cat_photo"].faces and not facts["cat_photo"].bodies
    assert facts["cat_photo"].mood == "warm"


@pytest.mark.parametrize("lang", LANGS)
def test_faces_are_mentioned_with_count_and_place(facts: dict[str, SceneFacts], lang: str) -> None:
    for text in lines(facts["one_face"], lang):
        assert mentions(PEOPLE, lang, text) and not mentions(CATS, lang, text), text
    for text in lines(facts["two_faces"], lang):
        assert mentions(PEOPLE, lang, text), text
        assert "two" in text.lower() if lang == "en" else "两" in text, text


@pytest.mark.parametrize("lang", LANGS)
def test_nothing_is_claimed_that_is_not_there(facts: dict[str, SceneFacts], lang: str) -> None:
    for name in ("dark", "moving", "still", "cat_photo"):
        for text in lines(facts[name], lang):
            assert not mentions(PEOPLE, lang, text), (name, text)
            assert not mentions(CATS, lang, text), (name, text)


@pytest.mark.parametrize("lang", LANGS)
def test_light_and_motion_are_described(facts: dict[str, SceneFacts], lang: str) -> None:
    assert all(mentions(DARK, lang, t) for t in lines(facts["dark"], lang))
    assert all(mentions(BUSY, lang, t) and not mentions(STILL, lang, t) for t in lines(facts["moving"], lang))
    assert all(mentions(STILL, lang, t) for t in lines(facts["still"], lang))
    assert not any(mentions(DARK, lang, t) for t in lines(facts["moving"], lang))


@pytest.mark.parametrize("lang", LANGS)
def test_cats_people_and_style_wording(lang: str) -> None:
    """The wording for detections the photos above cannot provide (the cat cascade needs a whole frontal cat face)."""
    facts = SceneFacts(width=300, cats=[Box(10, 10, 60, 60)], bodies=[Box(200, 20, 60, 150)], style="mosaic",
                       motion=0.0)
    for text in lines(facts, lang, 8):
        assert mentions(CATS, lang, text) and mentions(PEOPLE, lang, text), text
    assert any("mosaic" in t for t in lines(facts, lang, 8))


@pytest.mark.parametrize("lang", LANGS)
def test_lines_vary_and_never_repeat_back_to_back(facts: dict[str, SceneFacts], lang: str) -> None:
    said = lines(facts["two_faces"], lang, 10)
    assert all(a != b for a, b in zip(said, said[1:]))
    assert len(set(said)) >= 5


def test_narrator_describes_an_observation_end_to_end() -> None:
    frame = pattern(3, 320, 180)
    text = OfflineNarrator("zh", seed=1).describe(Observation(frame, 2.0, "tiny", previous=frame))
    assert re.search(STILL["zh"], text) and not re.search(PEOPLE["zh"], text)


def test_reading_time_follows_language_speed() -> None:
    assert reading_seconds("x" * 48, "en") == pytest.approx(3.0)
    assert reading_seconds("字" * 17, "zh") == pytest.approx(2.0)
    assert reading_seconds("hi", "en") == 1.0 and reading_seconds("x" * 500, "en") == 7.0


# --- the service ---------------------------------------------------------------------------------

class GatedNarrator:
    """Narrates 'line at PTS', but only when the test lets it (to prove offer() does not wait)."""

    lang = "en"

    def __init__(self, gated: bool = False):
        self.entered, self.release = threading.Event(), threading.Event()
        if not gated:
            self.release.set()
        self.seen: list[Observation] = []

    def describe(self, observation: Observation) -> str:
        self.entered.set()
        self.release.wait(10)
        self.seen.append(observation)
        return f"line at {observation.pts:.2f}"


def frame(pts: float, value: int = 100) -> Frame:
    return Frame(np.full((36, 64, 3), value, np.uint8), pts, time.monotonic(), int(pts * 10))


def feed(service: CaptionService, frames: list[Frame], gap_s: float = 0.004) -> None:
    for f in frames:
        service.offer(f, "tiny")
        time.sleep(gap_s)


def test_offer_never_waits_for_a_busy_narrator() -> None:
    narrator = GatedNarrator(gated=True)
    service = CaptionService(narrator, every_s=0.5, look_every_s=0.0)
    try:
        service.offer(frame(0.0), "tiny")
        assert narrator.entered.wait(5)  # the worker is now stuck inside describe()
        started = time.perf_counter()
        for i in range(1, 2001):
            service.offer(frame(i / 10), "tiny")
        offering = time.perf_counter() - started
        assert not narrator.release.is_set() and not service.captions  # all offers done while it was stuck
        narrator.release.set()
        deadline = time.monotonic() + 5
        while len(service.captions) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # the second line describes the newest frame, not a backlog
        assert service.captions[1].start == pytest.approx(200.0)
        # live, the late first line (about the frame at 0 s) starts when it is ready, so it is still shown
        late = next(c for c in service.captions if c.text == "line at 0.00")
        assert late.start == pytest.approx(200.0) and service.active(200.05) is not None
        assert offering < 1.0  # 2000 offers: a reference swap each
    finally:
        service.close()


def test_captions_follow_video_time_and_scene_changes() -> None:
    narrator = GatedNarrator()
    service = CaptionService(narrator, every_s=1.0, look_every_s=0.0)
    received = []
    service.subscribe(received.append)
    try:
        feed(service, [frame(i / 20) for i in range(0, 60)])  # 0 .. 2.95 s, same picture
        feed(service, [frame(3 + i / 20, value=250) for i in range(0, 20)])  # a cut at 3.0 s
        time.sleep(0.2)
    finally:
        service.close()
    starts = [c.start for c in service.captions]
    assert starts[0] == 0.0
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(starts, starts[1:]))
    assert len([s for s in starts if s < 3.0]) in (2, 3)  # every ~1 s of video, not of wall time
    cut = [o for o in narrator.seen if o.pts >= 3.0]
    assert cut and cut[0].scene_changed and cut[0].pts < 3.0 + 0.5
    assert received == service.captions
    first = service.captions[0]
    assert service.active(first.start + 0.01) == first and service.active(-1.0) is None
    assert service.active(1e6) is None


def test_in_step_mode_shows_each_line_from_the_frame_it_describes() -> None:
    """File renders: active(pts) waits for the narrator, so a line is never burned in late."""
    narrator = GatedNarrator()
    service = CaptionService(narrator, every_s=1.0, in_step=True)
    try:
        frames = [frame(i / 10) for i in range(30)]
        for f in frames:
            service.offer(f, "tiny")
        shown = [service.active(f.pts) for f in frames]  # no sleeping: active() waits as needed
    finally:
        service.close()
    assert [c.start for c in service.captions] == [0.0, 1.0, 2.0]
    assert all(c is not None and c.start == int(f.pts) for c, f in zip(shown, frames))


def test_build_captioning_options() -> None:
    import argparse

    from common.errors import UserError
    from realtime.captioner import build_captioning
    from stream import add_caption_options

    parser = argparse.ArgumentParser()
    add_caption_options(parser)
    off = build_captioning(parser.parse_args(["--no-captions"]))
    assert off.source is None and off.renderer is None
    off.finish()
    with pytest.raises(UserError, match="caption-every"):
        build_captioning(parser.parse_args(["--caption-every", "0"]))
    with pytest.raises(UserError, match="captioner-model"):
        build_captioning(parser.parse_args(["--captioner", "transformers"]))
    live, rendered = build_captioning(parser.parse_args([])), build_captioning(parser.parse_args([]), live=False)
    try:
        assert not live.source.in_step and rendered.source.in_step
    finally:
        live.finish()
        rendered.finish()
