"""The offline narrator: measured facts -> one friendly, spoken-style line (English or Chinese).

A line is built from clauses in order of interest: a scene change, who/what is there (cats, faces,
smiles, people), then the mood (light, motion, colours) and now and then the style. Each clause picks
one of several phrasings at random, and the narrator never says the same line twice in a row.
"""
from __future__ import annotations

import functools
import os
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from realtime.captioner.phrases import COLOUR_NAMES, PHRASES, WHERE, join, number
from realtime.captioner.scene import BRIGHT, BUSY, DARK, STILL, SceneFacts, analysis_copy, measure, motion_between
from realtime.captioner.service import Observation

STYLE_EVERY = 3  # mention the style about every third line (and whenever there is little else to say)


class OfflineNarrator:
    """Narration from OpenCV detectors and image statistics only: no model, no download."""

    def __init__(self, lang: str = "en", seed: int | None = None, separate_process: bool = False,
                 idle_priority: bool = True):
        """separate_process: run the detectors in a low-priority child process. The cascades are many
        small numpy steps that hold the GIL; in a thread they would slow the frame loop's threads.
        idle_priority: that process only gets otherwise idle CPU (live video); False for file renders,
        which wait for each line and must not stall behind other programs."""
        if lang not in PHRASES:
            raise ValueError(f"unknown caption language {lang!r} (en, zh)")
        self.lang = lang
        self.random = random.Random(seed)
        self.last_line = ""
        self.lines = 0
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
        return self.compose(facts)


    def compose(self, facts: SceneFacts) -> str:
        """One line about `facts`, different from the previous line whenever the facts allow it."""
        line = ""
        for _ in range(12):
            line = self._line(facts)
            if line != self.last_line:
                break
        self.last_line = line
        self.lines += 1
        return line

    # --- clauses ------------------------------------------------------------------------------

    def _say(self, key: str, **fields: object) -> str:
        template = self.random.choice(PHRASES[self.lang][key])
        fields.update({k.capitalize(): str(v)[:1].upper() + str(v)[1:] for k, v in fields.items()})
        return template.format(**fields)

    def _line(self, facts: SceneFacts) -> str:
        clauses = [self._say("scene_change")] if facts.scene_changed else []
        subjects = self._subjects(facts)
        clauses += subjects
        mood = self._mood(facts)
        clauses += mood[: 1 if subjects else 2]
        if facts.style and (not clauses or self.lines % STYLE_EVERY == STYLE_EVERY - 1 or len(clauses) < 2):
            clauses.append(self._say("style", style=facts.style))
        return ("" if self.lang == "zh" else " ").join(clauses)

    def _where(self, facts: SceneFacts, boxes: list) -> str:
        return WHERE[self.lang][facts.where(boxes[0])]

    def _wheres(self, facts: SceneFacts, boxes: list) -> str:
        """'two on the left and one in the middle' / '左边两个、中间一个'."""
        counts = Counter(facts.where(b) for b in boxes)
        parts = []
        for place in ("left", "centre", "right"):
            if counts[place]:
                n = number(counts[place], self.lang)
                parts.append(f"{WHERE['zh'][place]}{n}个" if self.lang == "zh" else f"{n} {WHERE['en'][place]}")
        return join(parts, self.lang)

    def _subjects(self, facts: SceneFacts) -> list[str]:
        out = []
        if facts.cats:
            n = len(facts.cats)
            out.append(self._say("cat_one", where=self._where(facts, facts.cats)) if n == 1
                       else self._say("cat_many", n=number(n, self.lang)))
        if facts.faces:
            n = len(facts.faces)
            out.append(self._say("face_one", where=self._where(facts, facts.faces)) if n == 1
                       else self._say("face_many", n=number(n, self.lang), wheres=self._wheres(facts, facts.faces)))
            if facts.smiles:
                out.append(self._say("smile_one") if facts.smiles == 1
                           else self._say("smile_many", n=number(facts.smiles, self.lang)))
        elif facts.bodies:
            out.append(self._say("body", where=self._where(facts, facts.bodies)))
        return out

    def _mood(self, facts: SceneFacts) -> list[str]:
        """Light, motion and colour clauses, most notable first."""
        out = []
        if facts.brightness < DARK:
            out.append(self._say("dark"))
        elif facts.brightness > BRIGHT:
            out.append(self._say("bright"))
        if facts.motion is not None:
            key = "busy" if facts.motion >= BUSY else "still" if facts.motion <= STILL else "moving"
            out.append(self._say(key))
        if facts.colours:
            names = [COLOUR_NAMES[self.lang].get(c, c) for c in facts.colours]
            key = facts.mood if facts.mood in ("warm", "cool") else "colours"
            out.append(self._say(key, colours=join(names, self.lang)))
        elif facts.mood == "grey" and facts.brightness >= DARK:
            out.append(self._say("grey"))
        return out


@functools.lru_cache(maxsize=2)
def detector_process(idle_priority: bool = True) -> ProcessPoolExecutor:
    """One low-priority child process for the detectors, shared by every narrator of this program,
    started (and warmed up: imports, cascades loaded) before the first frame so it costs the loop nothing."""
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_be_nice, initargs=(idle_priority,))
    pool.submit(measure, np.zeros((36, 64, 3), np.uint8) + 128).result()
    return pool


def _be_nice(idle_priority: bool) -> None:
    """Child-process initializer: run only on CPU time the frame loop leaves idle, one OpenCV thread.

    SCHED_IDLE rather than a nice level: the styling backends run two tightly synchronised threads,
    and even a low-priority neighbour that takes a core now and then stalls both of them."""
    import cv2

    try:
        if not idle_priority:
            os.nice(10)
        else:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the next best thing
        try:
            os.nice(19)
        except OSError:
            pass
    cv2.setNumThreads(1)
