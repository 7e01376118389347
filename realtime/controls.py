"""Live controls: what each preview-window hotkey does to the FrameProcessor.

Kept apart from the window so the same actions can be driven (and tested) without a display.
Every action takes effect between two frames; the stream never stops.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from common.errors import UserError
from realtime.segmentation import APPLY_MODES

if TYPE_CHECKING:  # the processor pulls in torch: not needed to parse keys
    from realtime.processor import FrameProcessor

STRENGTH_STEP = 0.1
BLEND_STEP = 0.25
HOTKEYS = (
    ("n / →", "next style"),
    ("p / ←", "previous style"),
    ("space", "style on/off"),
    ("+ / -", "style strength up/down"),
    ("] / [", "blend towards the next style / back"),
    ("c", "captions on/off"),
    ("k", "keep the video's colours on/off"),
    ("a", "style all / only the background / only the person"),
    ("s", "screenshot (PNG)"),
    ("q / Esc", "quit"),
)
# cv2.waitKeyEx codes for the arrow keys (GTK/Qt on Linux, then Windows)
RIGHT_ARROWS = {65363, 2555904}
LEFT_ARROWS = {65361, 2424832}


def hotkey_help() -> str:
    return "  ".join(f"[{keys}] {action}" for keys, action in HOTKEYS)


class BackgroundSwitch:
    """Style switches on a thread of their own, the newest request first: preparing a picture or a blend (its
    code, an ONNX export, a TensorRT engine) takes from a second to minutes, and the preview and recording run
    on the thread that reads the keys. A request still waiting when a newer one comes is dropped."""

    def __init__(self, processor: FrameProcessor):
        self.processor = processor
        self._wanted: tuple[str, str] | None = None  # (style, how to report it)
        self._messages: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="stylecast-hotkey-style", daemon=True).start()

    def request(self, style: str, label: str) -> None:
        with self._changed:
            self._wanted = (style, label)
            self._changed.notify()

    def take_message(self, wait_s: float = 0.0) -> str | None:
        """The outcome of a finished switch, once ('style: NAME' or 'cannot load ...'); waits up to wait_s for one."""
        with self._changed:
            self._changed.wait_for(lambda: self._messages, timeout=wait_s)
            return self._messages.pop(0) if self._messages else None

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._wanted is None:
                    self._changed.wait()
                (style, label), self._wanted = self._wanted, None
            message = switch_message(self.processor, style, label)
            with self._changed:
                self._messages.append(message)
                self._changed.notify_all()


def switch_message(processor: FrameProcessor, style: str, label: str) -> str:
    """Switch, and say how it went in the HUD's words; a broken checkpoint is reported, never fatal."""
    try:
        name = processor.set_style(style)
    except UserError as exc:
        return f"cannot load {label}: {exc}"
    return f"style: {name}" if label.startswith("style ") else label


class LiveControls:
    """Maps keys to processor changes; `styles` is the cycle for next/previous (names or paths).

    background: style switches run on their own thread (the preview window), and handle_key answers at once;
    their outcome comes from `take_message()`. Without it they finish before handle_key returns (tests)."""

    def __init__(self, processor: FrameProcessor, styles: list[str], screenshot_dir: Path = Path("."),
                 background: bool = False):
        self.processor = processor
        self.switcher = BackgroundSwitch(processor) if background else None
        self.styles = list(styles) or [processor.style_name]
        self.position = 0
        self.blend = 0.0  # how far the look has moved from styles[position] towards the next style
        self.screenshot_dir = Path(screenshot_dir)
        self.quit = False

    def handle_key(self, key: int, frame_rgb: np.ndarray | None = None) -> str | None:
        """Apply one key (a cv2.waitKeyEx code; -1 = none); returns a message to show, if any."""
        if key < 0:
            return None
        # Only printable ASCII is a character key: Shift, Ctrl, arrows and F-keys give codes >= 256,
        # which must not turn into "" (`"" in "+="` is true: every modifier would raise the strength).
        char = chr(key).lower() if 32 <= key < 127 else None
        if char == "q" or key == 27:
            self.quit = True
            return "quit"
        if char == "n" or key in RIGHT_ARROWS:
            return self.step_style(+1)
        if char == "p" or key in LEFT_ARROWS:
            return self.step_style(-1)
        if char == " ":
            self.processor.style_enabled = not self.processor.style_enabled
            return f"style {'on' if self.processor.style_enabled else 'off'}"
        if char in ("+", "="):
            return self.change_strength(+STRENGTH_STEP)
        if char in ("-", "_"):
            return self.change_strength(-STRENGTH_STEP)
        if char == "]":
            return self.change_blend(+BLEND_STEP)
        if char == "[":
            return self.change_blend(-BLEND_STEP)
        if char == "c":
            return self.toggle_captions()
        if char == "k":
            self.processor.keep_colours = not self.processor.keep_colours
            return f"video colours {'kept' if self.processor.keep_colours else 'styled'}"
        if char == "a":
            return self.cycle_apply()
        if char == "s" and frame_rgb is not None:
            return f"saved {self.screenshot(frame_rgb)}"
        return None

    def step_style(self, step: int) -> str:
        """Load the next/previous style; a broken checkpoint is reported and skipped, never fatal."""
        self.position = (self.position + step) % len(self.styles)
        self.blend = 0.0
        wanted = self.styles[self.position]
        return self._switch(wanted, f"style {wanted}")

    def _switch(self, style: str, label: str) -> str:
        if self.switcher is None:
            return switch_message(self.processor, style, label)
        self.switcher.request(style, label)
        return f"loading {label}..."

    def take_message(self, wait_s: float = 0.0) -> str | None:
        return self.switcher.take_message(wait_s) if self.switcher is not None else None

    def change_blend(self, delta: float) -> str:
        """Mix the current style with the next one in the cycle (codes mixed by the conditional network)."""
        if len(self.styles) < 2:
            return "only one style: nothing to blend with"
        self.blend = min(1.0, max(0.0, round(self.blend + delta, 2)))
        here, there = self.styles[self.position], self.styles[(self.position + 1) % len(self.styles)]
        wanted = here if self.blend == 0 else f"{here}:{1 - self.blend:g},{there}:{self.blend:g}"
        return self._switch(wanted, f"blend: {here} {100 - round(100 * self.blend)}% + {there} {round(100 * self.blend)}%")

    def cycle_apply(self) -> str:
        """all -> background -> person -> all; without the segmentation model, says how to get it."""
        wanted = APPLY_MODES[(APPLY_MODES.index(self.processor.apply) + 1) % len(APPLY_MODES)]
        try:
            self.processor.set_apply(wanted)
        except UserError as exc:
            return str(exc)
        return {"all": "styling the whole frame", "background": "styling the background only",
                "person": "styling the person only"}[wanted]

    def change_strength(self, delta: float) -> str:
        self.processor.set_strength(round(self.processor.strength + delta, 2))
        return f"strength {self.processor.strength:.1f}"

    def toggle_captions(self) -> str:
        if self.processor.captions is None:
            return "captions are off for this run (started with --no-captions)"
        self.processor.captions_enabled = not self.processor.captions_enabled
        return f"captions {'on' if self.processor.captions_enabled else 'off'}"

    def screenshot(self, frame_rgb: np.ndarray) -> Path:
        """Save the frame as shown (HxWx3 uint8 RGB) to a time-stamped PNG; returns its path."""
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.screenshot_dir / f"stylecast-{stamp}-{int(time.time() * 1000) % 1000:03d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)):
            raise UserError(f"could not write screenshot {path}")
        return path
