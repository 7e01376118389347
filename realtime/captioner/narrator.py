"""The offline narrator: measured facts -> one friendly, spoken-style line (English or Chinese).

A line says what changed since the last one (a new scene, someone joined, left, moved or is still there),
then who is there and how (count, where, close-up or far, smiling, facing the camera or turned away), what
a hand does (a wave, a thumbs up, pointing, a hand up), then at most one remark about light, the camera
moving, motion, blue sky or a notable colour, and the style when it changes. Facts that have not changed
since the last line of the same scene (where someone faces, a gesture, the sky, a colour) are not said
again. It only says what the detectors are sure of, and no phrasing is used twice within REPEAT_WINDOW_S
of video: an optional clause is left out instead.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np

from realtime.captioner.phrases import COLOUR_NAMES, PHRASES, STYLE_NAMES, WHERE, number
from realtime.captioner.scene import BRIGHT, BUSY, DARK, MOVING, STILL, SceneFacts, analysis_copy, measure
from realtime.captioner.service import Observation

STYLE_AGAIN_S = 30.0  # the style is said when it changes, and again after this long if a line has little to say
REPEAT_WINDOW_S = 60.0  # no phrasing is repeated within this much video time
MAX_COUNT = 6  # more faces than this are "a bunch", not a number the detector would get right
MAX_CLAUSES = 4  # a line is read in a few seconds: optional clauses beyond this are left out
GESTURE_KEYS = {"open": "open_hand", "thumbs_up": "thumbs_up", "pointing": "pointing", "wave": "wave",
                "hand_up": "hand_up"}


@dataclass
class Clause:
    """A planned piece of a line: a PHRASES key, its fields, and whether it may be left out."""

    key: str
    optional: bool = False
    fields: dict[str, object] = field(default_factory=dict)


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
        self.previous: SceneFacts | None = None
        self._used: dict[str, float] = {}  # template -> video time it was last said
        self._now = 0.0
        self._last_gesture = ""
        self._style_said: tuple[str, float] = ("", -1e9)  # the style last named, and when
        self._photo = False  # the lines are about the photos of a folder
        self._pool = detector_process(idle_priority) if separate_process else None
        self._in_flight: Future | None = None  # the detectors' current look, if any

    def close(self) -> None:
        """A look still under way in the detectors' process (which only gets idle CPU, so on a saturated
        machine it may take minutes) must not hold up the program's end: that process is ended."""
        if self._in_flight is not None and not self._in_flight.done():
            stop_detector_processes()

    def describe(self, observation: Observation) -> str | None:
        changed = observation.scene_changed and not observation.first
        if observation.first or observation.refresh:
            self.previous = None  # described afresh: nothing to compare with (no "gone" when the lights go off)
        self._photo = observation.photo
        people_before = None if self.previous is None or changed else self.previous.people
        # the service hands over earlier frames of the same scene only (never from before a cut)
        earlier = [e for e in (observation.previous, observation.earlier) if e is not None]
        if self._pool is None:
            facts = measure(observation.image, earlier, changed, observation.style_name, people_before)
        else:  # send the small analysis copies, not the full frames
            self._in_flight = self._pool.submit(measure, analysis_copy(observation.image),
                                                [analysis_copy(e) for e in earlier], changed, observation.style_name,
                                                people_before)
            try:
                facts = self._in_flight.result()
            except BrokenProcessPool:  # close() ended the detectors while this look waited: no line
                return None
        return self.compose(facts, observation.pts) or None

    def compose(self, facts: SceneFacts, pts: float | None = None) -> str:
        """One line about `facts` at video time `pts` (default: 4 s after the previous line); '' when the scene
        is the one of the last line and nothing in it is worth saying again.

        Clauses are planned first (what changed, who, what a hand does, how they look, one remark, the style)
        and said in that order up to MAX_CLAUSES; optional ones whose phrasings were all used lately drop out."""
        if pts is not None and pts < self._now - REPEAT_WINDOW_S:  # the source's clock started again (a reconnect)
            self._used.clear()
            self._style_said = ("", -1e9)
        self._now = self._now + 4.0 if pts is None else pts
        subjects = [*self._subjects(facts), *self._hands(facts)]
        plan = [*self._opener(facts), *subjects, *self._remark(facts, has_subject=bool(subjects))]
        new_view = self.previous is None or facts.scene_changed
        style_said = self._style_said
        plan += self._style(facts, plan, new_view)
        clauses, said_keys = [], set()
        for clause in plan:
            room = MAX_CLAUSES - (1 if clause.key == "style" else 0)  # the style waits for a shorter line
            said = "" if len(clauses) >= room and clause.optional else \
                self._say(clause.key, clause.optional, **clause.fields)
            if said:
                clauses.append(said)
                said_keys.add(clause.key)
        gestures = set(GESTURE_KEYS.values())
        if {c.key for c in plan} & gestures and not said_keys & gestures:
            self._last_gesture = ""  # a gesture left out is said at the next line
        if "style" not in said_keys:
            self._style_said = style_said
        if not clauses and new_view:
            clauses = [self._say("nothing")]
        if not facts.people_steady and not new_view:  # keep who was there until the count settles
            facts = replace(facts, faces=self.previous.faces, smiles=self.previous.smiles, facing=self.previous.facing)
        self.previous = facts
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

    def _style(self, facts: SceneFacts, plan: list[Clause], new_view: bool) -> list[Clause]:
        """The style, when it is new to the narration (a style switch is worth a word) or, on a line with little
        else to say, when it was last named STYLE_AGAIN_S ago; Chinese lines use the style's Chinese name."""
        name, said_at = self._style_said
        fresh = facts.style != name  # (left out of a full line, it comes at the next one)
        if not facts.style or not (fresh or (len(plan) < 2 and self._now - said_at >= STYLE_AGAIN_S)):
            return []
        self._style_said = (facts.style, self._now)
        shown = STYLE_NAMES[self.lang].get(facts.style, facts.style.replace("_", " "))
        return [Clause("style", optional=bool(plan) or not new_view, fields={"style": shown})]

    def _opener(self, facts: SceneFacts) -> list[Clause]:
        return [Clause("next_photo" if self._photo else "scene_change")] if facts.scene_changed else []

    def _subjects(self, facts: SceneFacts) -> list[Clause]:
        """Who is there, said as what changed when the scene is the same as the last line's."""
        n, before = len(facts.faces), self.previous
        same_scene = before is not None and not facts.scene_changed
        if same_scene and n != before.people and not facts.people_steady:
            return []  # the count changed within the last 0.2 s: a detector blink or someone mid-step; wait
        if same_scene and n == 0 and before.faces:
            return [Clause("gone")]
        if n == 0:
            return []
        where = facts.where(facts.faces[0])
        out = []
        if same_scene and n > len(before.faces):
            out.append(Clause("joined"))
        elif same_scene and 0 < n < len(before.faces):
            out.append(Clause("left_some"))
        elif same_scene and n == len(before.faces) == 1 and where and before.where(before.faces[0]) not in ("", where):
            out.append(Clause("moved_at", fields={"where": WHERE[self.lang][where]}))
        same_people = same_scene and n == len(before.faces) and where == before.where(before.faces[0])
        if same_people and n == 1:  # nothing changed: not another "hi there!", but that they are still here
            out.append(Clause("still_here_at", optional=True, fields={"where": WHERE[self.lang][where]}) if where
                       else Clause("still_here", optional=True))
        elif not out or n > 1:
            out.append(self._people(facts, where))
        size = facts.size(max(facts.faces, key=lambda b: b.w))
        if facts.smiles:
            out.append(Clause("smile_one", optional=True) if facts.smiles == 1 or n == 1
                       else Clause("smile_many", optional=True, fields={"n": number(facts.smiles, self.lang)}))
        if facts.facing and (not same_scene or before.facing != facts.facing):
            out.append(Clause(f"facing_{facts.facing}", optional=True))
        if size:
            out.append(Clause(size, optional=True))
        return out

    def _hands(self, facts: SceneFacts) -> list[Clause]:
        """What a hand does, said when it is new in this scene (a wave is always worth a word)."""
        gesture = facts.gesture
        if gesture == "open" and any(hand.gesture == "open" and hand.raised for hand in facts.hands):
            gesture = "hand_up"
        same_scene = self.previous is not None and not facts.scene_changed
        repeated = same_scene and gesture != "wave" and self._last_gesture == gesture
        self._last_gesture = gesture
        if not gesture or repeated:
            return []
        return [Clause(GESTURE_KEYS.get(gesture, gesture), optional=gesture != "wave")]

    def _people(self, facts: SceneFacts, where: str) -> Clause:
        n = len(facts.faces)
        if n == 1:
            return Clause("face_one_at", fields={"where": WHERE[self.lang][where]}) if where else Clause("face_one")
        many = number(n, self.lang) if n <= MAX_COUNT else ("好多" if self.lang == "zh" else "lots of")
        return Clause("face_many", fields={"n": many})

    def _remark(self, facts: SceneFacts, has_subject: bool) -> list[Clause]:
        """At most one remark about light, the camera, motion, sky or a notable colour: the first that is sure
        and fresh. Sky and colour are said when the scene is new to the narration (they do not change)."""
        candidates = []
        if facts.brightness < DARK:
            candidates.append(("dark", {}))
        elif facts.brightness > BRIGHT:
            candidates.append(("bright", {}))
        if facts.camera_moving:
            candidates.append(("camera_moving", {}))
        elif facts.motion is not None and facts.motion >= MOVING:
            candidates.append(("busy" if facts.motion >= BUSY else "moving", {}))
        elif facts.motion is not None and facts.motion <= STILL:
            candidates.append(("still", {}))
        new_view = self.previous is None or facts.scene_changed
        if facts.sky and new_view:
            candidates.append(("sky", {}))
        if facts.colour and new_view:
            candidates.append(("colour", {"colour": COLOUR_NAMES[self.lang].get(facts.colour, facts.colour)}))
        elif facts.monochrome and not has_subject and new_view:
            candidates.append(("monochrome", {}))
        for key, fields in candidates:  # the first with a phrasing left (checked without using it up)
            if any(self._now - self._used.get(t, -1e9) >= REPEAT_WINDOW_S for t in PHRASES[self.lang][key]):
                return [Clause(key, optional=True, fields=fields)]
        return []


_POOLS: list[ProcessPoolExecutor] = []  # every detectors' process this program started
MANAGER_JOIN_S = 5.0  # only bounds a shutdown on a machine with no CPU to spare; it normally takes ms


@functools.lru_cache(maxsize=2)
def detector_process(idle_priority: bool = True) -> ProcessPoolExecutor:
    """One low-priority child process for the detectors, shared by every narrator of this program,
    started (and warmed up: imports, cascades loaded) before the first frame so it costs the loop nothing.

    The warm-up runs at a low nice level, and only then does the process drop to idle-only CPU time: an
    idle-priority process gets no CPU at all while every core is busy, and the run (which waits for the
    warm-up) would never start on a saturated machine. After it, narration lines wait for idle time instead."""
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_be_nice)
    _POOLS.append(pool)
    pool.submit(measure, np.zeros((36, 64, 3), np.uint8) + 128).result()
    if idle_priority:
        pool.submit(_go_idle).result()
    return pool


def stop_detector_processes() -> None:
    """End the detectors' processes now (pending looks are dropped); the next narrator starts a new one.
    Also called at the program's end: shutting an idle-priority child down politely needs CPU time it may
    not get on a busy machine, and Python's exit would wait for it."""
    for pool in _POOLS:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
        pool.shutdown(wait=False, cancel_futures=True)
        # Let the pool's manager thread finish closing its pipes now: at interpreter exit CPython 3.11 writes
        # to its wake-up pipe unlocked, and a close racing that write printed "OSError: Bad file descriptor"
        # (1 `serve` shutdown in 2). With its child terminated the thread ends within milliseconds.
        if manager is not None:
            manager.join(timeout=MANAGER_JOIN_S)
    _POOLS.clear()
    detector_process.cache_clear()


def _be_nice() -> None:
    """Child-process initializer: a low nice level, one OpenCV thread (common.threads decides)."""
    from common.threads import make_background_process

    make_background_process(idle_priority=False)


def _go_idle() -> None:
    """After the warm-up: idle CPU time only (see common.threads.make_background_process)."""
    from common.threads import make_background_process

    make_background_process(idle_priority=True)
