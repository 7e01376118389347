"""Live controls: what each preview-window hotkey does to the FrameProcessor.

Kept apart from the window so the same actions can be driven (and tested) without a display.
Every action takes effect between two frames; the stream never stops.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from common.errors import UserError

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
    ("s", "screenshot (PNG)"),
    ("q / Esc", "quit"),
)
# cv2.waitKeyEx codes for the arrow keys (GTK/Qt on Linux, then Windows)
RIGHT_ARROWS = {65363, 2555904}
LEFT_ARROWS = {65361, 2424832}


def hotkey_help() -> str:
    return "  ".join(f"[{keys}] {action}" for keys, action in HOTKEYS)


class LiveControls:
    """Maps keys to processor changes; `styles` is the cycle for next/previous (names or paths)."""

    def __init__(self, processor: FrameProcessor, styles: list[str], screenshot_dir: Path = Path(".")):
        self.processor = processor
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
        if char == "s" and frame_rgb is not None:
            return f"saved {self.screenshot(frame_rgb)}"
        return None

    def step_style(self, step: int) -> str:
        """Load the next/previous style; a broken checkpoint is reported and skipped, never fatal."""
        self.position = (self.position + step) % len(self.styles)
        self.blend = 0.0
        wanted = self.styles[self.position]
        try:
            return f"style: {self.processor.set_style(wanted)}"
        except UserError as exc:
            return f"cannot load style {wanted}: {exc}"

    def change_blend(self, delta: float) -> str:
        """Mix the current style with the next one in the cycle (codes mixed by the conditional network)."""
        if len(self.styles) < 2:
            return "only one style: nothing to blend with"
        self.blend = min(1.0, max(0.0, round(self.blend + delta, 2)))
        here, there = self.styles[self.position], self.styles[(self.position + 1) % len(self.styles)]
        wanted = here if self.blend == 0 else f"{here}:{1 - self.blend:g},{there}:{self.blend:g}"
        try:
            self.processor.set_style(wanted)
        except UserError as exc:
            return f"cannot blend {here} with {there}: {exc}"
        return f"blend: {here} {100 - round(100 * self.blend)}% + {there} {round(100 * self.blend)}%"

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
