"""The offline narrator: measured facts -> one friendly, spoken-style line (English or Chinese).

A line says what changed since the last one (a new scene, someone joined, left or moved), then who is
there and how (count, where, close-up or far, smiling), then at most one remark about light, motion or
a notable colour, and now and then the style. It only says what the detectors are sure of, and no
phrasing is used twice within REPEAT_WINDOW_S of video: an optional remark is left out instead.
"""
from __future__ import annotations

import functools
import random
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from realtime.captioner.phrases import COLOUR_NAMES, PHRASES, WHERE, number
from realtime.captioner.scene import BRIGHT, BUSY, DARK, STILL, SceneFacts, analysis_copy, measure, motion_between
from realtime.captioner.service import Observation

STYLE_EVERY = 3  # mention the style about every third line (and whenever there is little else to say)
REPEAT_WINDOW_S = 60.0  # no phrasing is repeated within this much video time
MAX_COUNT = 6  # more faces than this are "a bunch", not a number the detector would get right


class OfflineNarrator:
    """Narration from on-device detectors and image statistics only: no model download, no guessing."""

    def __init__(self, lang: str = "en", seed: int | None = None, separate_process: bool = False,
                 idle_priority: bool = True):
        """separate_process: run the detectors in a low-priority child process. They are many small
        numpy/OpenCV steps that hold the GIL; in a thread they would slow the frame loop's threads.
        idle_priority: that process only gets otherwise idle CPU (live video); False for file renders,
        which wait for each line and must not stall behind other programs."""
        if lang not in PHRASES:
            raise ValueError(f"unknown caption language {lang!r} (en, zh)")
        self.lang = lang
        self.random = random.Random(seed)
        self.lines = 0
        self.previous: SceneFacts | None = None
        self._used: dict[str, float] = {}  # template -> video time it was last said
        self._now = 0.0
        self._pool = detector_process(idle_priority) if separate_process else None

    def describe(self, observation: Observation) -> str | None:
        motion = observation.motion
        if observation.scene_changed:  # across a cut, frame differences are not movement
            motion = None
        elif motion is None and observation.previous is not None:
            motion = motion_between(observation.previous, observation.image)
        changed = observation.scene_changed and not observation.first
        if self._pool is None:
            facts = measure(observation.image, motion, changed, observation.style_name)
        else:  # send the small analysis copy, not the full frame
            facts = self._pool.submit(measure, analysis_copy(observation.image), motion, changed,
                                      observation.style_name).result()
        if observation.first:
            self.previous = None
        return self.compose(facts, observation.pts)

    def compose(self, facts: SceneFacts, pts: float | None = None) -> str:
        """One line about `facts` at video time `pts` (default: 4 s after the previous line)."""
        self._now = self._now + 4.0 if pts is None else pts
        clauses = [c for c in (self._opener(facts), *self._subjects(facts)) if c]
        remark = self._remark(facts, bool(clauses))
        if remark:
            clauses.append(remark)
        if facts.style and (len(clauses) < 2 or self.lines % STYLE_EVERY == STYLE_EVERY - 1):
            clauses.append(self._say("style", optional=bool(clauses), style=facts.style))
        clauses = [c for c in clauses if c] or [self._say("nothing")]
        self.previous = facts
        self.lines += 1
        return ("" if self.lang == "zh" else " ").join(clauses)

    # --- clauses ------------------------------------------------------------------------------

    def _say(self, key: str, optional: bool = False, **fields: object) -> str:
        """A phrasing of `key` not said within REPEAT_WINDOW_S; '' if an optional clause has none left."""
        templates = PHRASES[self.lang][key]
        fresh = [t for t in templates if self._now - self._used.get(t, -1e9) >= REPEAT_WINDOW_S]
        if not fresh and optional:
            return ""
        template = self.random.choice(fresh) if fresh else min(templates, key=lambda t: self._used.get(t, -1e9))
        self._used[template] = self._now
        fields.update({k.capitalize(): str(v)[:1].upper() + str(v)[1:] for k, v in fields.items()})
        return template.format(**fields)

    def _opener(self, facts: SceneFacts) -> str:
        return self._say("scene_change") if facts.scene_changed else ""

    def _subjects(self, facts: SceneFacts) -> list[str]:
        """Who is there, said as what changed when the scene is the same as the last line's."""
        n, before = len(facts.faces), self.previous
        same_scene = before is not None and not facts.scene_changed
        if same_scene and n == 0 and before.faces:
            return [self._say("gone")]
        if n == 0:
            return []
        where = facts.where(facts.faces[0])
        out = []
        if same_scene and n > len(before.faces):
            out.append(self._say("joined"))
        elif same_scene and 0 < n < len(before.faces):
            out.append(self._say("left_some"))
        elif same_scene and n == len(before.faces) == 1 and where and before.where(before.faces[0]) not in ("", where):
            out.append(self._say("moved_at", where=WHERE[self.lang][where]))
        if not out or n > 1:
            out.append(self._people(facts, where))
        size = facts.size(max(facts.faces, key=lambda b: b.w))
        if size:
            out.append(self._say(size, optional=True))
        if facts.smiles:
            out.append(self._say("smile_one", optional=True) if facts.smiles == 1 or n == 1
                       else self._say("smile_many", optional=True, n=number(facts.smiles, self.lang)))
        return out

    def _people(self, facts: SceneFacts, where: str) -> str:
        n = len(facts.faces)
        if n == 1:
            return self._say("face_one_at", where=WHERE[self.lang][where]) if where else self._say("face_one")
        return self._say("face_many", n=number(n, self.lang) if n <= MAX_COUNT else ("好多" if self.lang == "zh" else "lots of"))

    def _remark(self, facts: SceneFacts, has_subject: bool) -> str:
        """At most one remark about light, motion or a notable colour: the first that is sure and fresh."""
        candidates = []
        if facts.brightness < DARK:
            candidates.append(("dark", {}))
        elif facts.brightness > BRIGHT:
            candidates.append(("bright", {}))
        if facts.motion is not None and (facts.motion >= BUSY or facts.motion <= STILL):
            candidates.append(("busy" if facts.motion >= BUSY else "still", {}))
        if facts.colour:
            candidates.append(("colour", {"colour": COLOUR_NAMES[self.lang].get(facts.colour, facts.colour)}))
        elif facts.monochrome and not has_subject:
            candidates.append(("monochrome", {}))
        for key, fields in candidates:
            line = self._say(key, optional=True, **fields)
            if line:
                return line
        return ""


@functools.lru_cache(maxsize=2)
def detector_process(idle_priority: bool = True) -> ProcessPoolExecutor:
    """One low-priority child process for the detectors, shared by every narrator of this program,
    started (and warmed up: imports, cascades loaded) before the first frame so it costs the loop nothing."""
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_be_nice, initargs=(idle_priority,))
    pool.submit(measure, np.zeros((36, 64, 3), np.uint8) + 128).result()
    return pool


def _be_nice(idle_priority: bool) -> None:
    """Child-process initializer: idle CPU time only, one OpenCV thread (common.threads decides)."""
    from common.threads import make_background_process

    make_background_process(idle_priority)
