"""Where stylized frames go: a preview window, an OBS virtual camera, image files (video files: recorder.py).

Several sinks run at once; the pipeline calls `write` for every frame in its output thread,
`poll` while it waits for one, and `close` once at the end (also after errors and Ctrl-C).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

import cv2

from common.console import say
from common.errors import UserError
from realtime.controls import LiveControls, hotkey_help
from realtime.frames import Frame

HUD_SECONDS = 2.0  # how long a hotkey's message stays on the preview


class Sink:
    """Base class: a destination for frames."""

    quit_requested = False

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def poll(self) -> None:
        """Called ~20 times a second while no frame is ready (windows handle their events here)."""

    def close(self, interrupted: bool = False) -> None:
        """Finish up; `interrupted` = the source did not reach its end (Ctrl-C, quit key, error)."""


# --- preview window -----------------------------------------------------------------------------

def display_available() -> bool:
    """True when a window can be shown (an X11/Wayland display on Linux; always elsewhere)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class PreviewSink(Sink):
    """An OpenCV window with hotkeys (see controls.HOTKEYS) and a small status line.

    `status` returns the text for the status line (fps, latency), drawn on the preview only,
    never into recordings.
    """

    def __init__(self, controls: LiveControls, title: str = "stylecast", status: Callable[[], str] | None = None):
        self.controls, self.title, self.status = controls, title, status
        self._message, self._message_until = hotkey_help(), 0.0
        self._last_rgb = None
        if not display_available():  # checked first: Qt aborts the whole process when it finds no display
            raise UserError("cannot open a preview window: no display (DISPLAY is not set); "
                            "use --output FILE, --virtual-camera or --headless")
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UserError("cannot open a preview window: this OpenCV has no GUI support "
                            "(pip install opencv-python instead of opencv-python-headless); use --no-preview") from None
        say(f"preview keys: {hotkey_help()}")

    def write(self, frame: Frame) -> None:
        self._last_rgb = frame.image
        bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
        lines = [self.status()] if self.status else []
        if time.monotonic() < self._message_until:
            lines.append(self._message)
        for row, text in enumerate(lines):
            y = 22 + 22 * row
            cv2.putText(bgr, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(bgr, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.imshow(self.title, bgr)
        self.poll()

    def poll(self) -> None:
        message = self.controls.handle_key(cv2.waitKeyEx(1), self._last_rgb) or self.controls.take_message()
        if message:
            self._message, self._message_until = message, time.monotonic() + HUD_SECONDS
        window_closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        self.quit_requested = self.controls.quit or window_closed

    def close(self, interrupted: bool = False) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


# --- virtual camera -----------------------------------------------------------------------------

def virtual_camera_help() -> str:
    """How to get a virtual camera device on this platform."""
    if sys.platform.startswith("linux"):
        return ("install v4l2loopback: `sudo apt install v4l2loopback-dkms` then "
                "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=stylecast` "
                "(or install OBS Studio, which sets it up)")
    return "install OBS Studio 28+ and click 'Start Virtual Camera' once so its camera driver is registered"


class VirtualCameraSink(Sink):
    """Sends frames to an OBS virtual camera / v4l2loopback device via pyvirtualcam, for Zoom, Meet, OBS.

    The device opens at the first frame (its size is the frame's size).
    """

    def __init__(self, fps: float, device: str | None = None):
        self.fps, self.device = float(fps), device
        self.camera = None

    def _open(self, width: int, height: int) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise UserError("the virtual camera needs pyvirtualcam: pip install pyvirtualcam") from None
        try:
            self.camera = pyvirtualcam.Camera(width, height, self.fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                              device=self.device)
        except (RuntimeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"no virtual camera available ({reason}); {virtual_camera_help()}") from None
        say(f"virtual camera on {self.camera.device} ({width}x{height} @ {self.fps:g} fps)")

    def write(self, frame: Frame) -> None:
        if self.camera is None:
            self._open(frame.image.shape[1], frame.image.shape[0])
        self.camera.send(frame.image)

    def close(self, interrupted: bool = False) -> None:
        if self.camera is not None:
            self.camera.close()
            self.camera = None


# --- image files --------------------------------------------------------------------------------

class ImageFolderSink(Sink):
    """Writes every frame as a PNG into a folder; `name_for(frame)` picks the file stem.

    Each image is written under a temporary name and renamed when complete, so an existing file is
    never left half-written (whether it may be replaced at all is decided before the run starts)."""

    def __init__(self, folder: Path, name_for: Callable[[Frame], str] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name_for = name_for or (lambda frame: f"{frame.index:06d}")

    def write(self, frame: Frame) -> None:
        path = self.folder / f"{self.name_for(frame)}.png"
        ok, png = cv2.imencode(".png", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise UserError(f"could not encode {path} as PNG")
        partial = path.with_name(f".{path.stem}.partial.png")
        try:
            partial.write_bytes(png.tobytes())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
