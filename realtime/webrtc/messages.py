"""Validation of everything the browser sends: the /offer body and data-channel control messages.

Anything malformed becomes a `BadRequest` with a message the page can show; nothing from the network
reaches aiortc or the model unchecked.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from realtime.segmentation import APPLY_MODES

MAX_SDP_CHARS = 32 * 1024
MAX_SDP_LINE = 2048  # a browser's longest line (a candidate, a fingerprint, an m= line) is ~200 characters
MAX_MEDIA_SECTIONS = 8  # the pages offer video + a data channel; each section costs the server transports
_SDP_LINE = re.compile(r"[a-z]=[^\x00-\x08\x0a-\x1f\x7f]*")  # <type>=<value>; no control characters but tab
_MEDIA_LINE = re.compile(r"m=[a-z]+ [0-9]{1,5} [A-Z/]+( [^ ]+)+")  # m=<media> <port> <proto> <format>...
MAX_CONTROL_BYTES = 2048
MAX_NAME_CHARS = 100  # a style name (the catalog's longest is far shorter; the names become file names)
ROLES = ("send", "view")  # send: camera in, stylized out; view: stylized output only (OBS)


class BadRequest(ValueError):
    """The client sent something invalid; the message says what, in one sentence."""


@dataclass(frozen=True)
class Offer:
    sdp: str
    role: str


def _json(text: str | bytes, what: str) -> Any:
    """json.loads, with every way it can fail on hostile input as a BadRequest: deep nesting
    (60 KB of '[') exhausts the parser's recursion limit, and a number of over 4300 digits is a plain
    ValueError (int() refuses it), neither of them a JSONDecodeError."""
    try:
        return json.loads(text)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer too long to convert
        raise BadRequest(f"{what} is not valid JSON") from None
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None


def parse_offer(body: bytes) -> Offer:
    """The JSON body of POST /offer: {"sdp": "...", "type": "offer", "role": "send"|"view"}."""
    data = _json(body, "the offer")
    if not isinstance(data, dict):
        raise BadRequest("the offer must be a JSON object")
    if data.get("type") != "offer":
        raise BadRequest("'type' must be \"offer\"")
    role = data.get("role", "send")
    if role not in ROLES:
        raise BadRequest(f"'role' must be one of {', '.join(ROLES)}")
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise BadRequest("'sdp' must be a non-empty string")
    if len(sdp) > MAX_SDP_CHARS:
        raise BadRequest(f"'sdp' is longer than {MAX_SDP_CHARS} characters")
    check_sdp(sdp, role)
    return Offer(sdp=sdp, role=role)


def check_sdp(sdp: str, role: str) -> None:
    """Cheap structural checks aiortc does not do (it accepts any text as an SDP with no media, and some
    inconsistent ones leave its peer connection half built, so that even closing it raises).

    Lines are judged as aiortc reads them (split the same way, not stripped): an a=mid:"0 " is not "0".
    """
    lines = [line for line in sdp.splitlines() if line.strip()]
    if not lines or lines[0].strip() != "v=0":
        raise BadRequest("'sdp' is not a session description (it must start with v=0)")
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_SDP_LINE:
            raise BadRequest(f"'sdp' line {number} is longer than {MAX_SDP_LINE} characters")
        if line and not _SDP_LINE.fullmatch(line):
            raise BadRequest(f"'sdp' line {number} is not an SDP line ('x=value', no control characters)")
    try:
        sdp.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape
        raise BadRequest("'sdp' is not valid Unicode text") from None
    sections = _media_sections(lines)
    if len(sections) > MAX_MEDIA_SECTIONS:
        raise BadRequest(f"the offer has more than {MAX_MEDIA_SECTIONS} media (m=) sections")
    video = [i for i, line in enumerate(lines) if line.startswith("m=video ")]
    if not video:
        raise BadRequest("the offer has no video (m=video) section")
    session = lines[:sections[0][0]]
    for start, end in sections:  # each section needs its own or the session's credentials (aiortc's view)
        if not all(any(line.startswith(prefix) for line in session + lines[start:end])
                   for prefix in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:")):
            raise BadRequest("the offer lacks ICE credentials or a DTLS fingerprint")
    mids = []
    for start, end in sections:
        if not _MEDIA_LINE.fullmatch(lines[start]):
            raise BadRequest(f"'sdp' line {start + 1} is not a media line ('m=<media> <port> <proto> <formats>')")
        section_mids = [line[len("a=mid:"):] for line in lines[start:end] if line.startswith("a=mid:")]
        if len(section_mids) != 1 or not section_mids[0]:
            raise BadRequest(f"media section at line {start + 1} needs exactly one a=mid")
        mids += section_mids
    if len(set(mids)) != len(mids):
        raise BadRequest("two media sections have the same a=mid")
    for line in session:
        if line.startswith("a=group:") and not set(line.split()[1:]) <= set(mids):
            raise BadRequest("a=group names a media section (mid) the offer does not have")
    if role == "send":
        section = lines[video[0]:]
        if any(line in ("a=recvonly", "a=inactive") for line in section[1:_section_end(section)]):
            raise BadRequest("a 'send' offer must send video (its video section is recvonly/inactive)")


def _media_sections(lines: list[str]) -> list[tuple[int, int]]:
    """(first line, end) of each m= section."""
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    return list(zip(starts, starts[1:] + [len(lines)]))


def _section_end(section: list[str]) -> int:
    for i, line in enumerate(section[1:], start=1):
        if line.startswith("m="):
            return i
    return len(section)


def parse_control(raw: str | bytes) -> dict[str, Any]:
    """One data-channel message -> a normalised dict. Accepted messages:

    {"type": "style", "name": str}            switch to a catalog style
    {"type": "strength", "value": 0..1}       blend with the original
    {"type": "style_enabled", "value": bool}  style on/off
    {"type": "captions", "value": bool}       burned-in captions on/off
    {"type": "keep_colours", "value": bool}   keep the video's own colours (the style's strokes only)
    {"type": "blend", "a": str, "b": str, "value": 0..1}   a mix of two catalog styles, 0 = a, 1 = b
    {"type": "apply", "value": "all"|"background"|"person"}  what to style (the person found by segmentation)
    {"type": "ping", "id": int|str, ...}      answered with a pong carrying the same fields
    """
    if isinstance(raw, bytes):
        raise BadRequest("control messages are JSON text, not binary")
    if len(raw) > MAX_CONTROL_BYTES:
        raise BadRequest(f"control message longer than {MAX_CONTROL_BYTES} bytes")
    message = _json(raw, "control message")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadRequest("control message must be an object with a 'type'")
    kind = message["type"]
    if kind == "ping":
        return message
    if kind == "style":
        if not isinstance(message.get("name"), str):
            raise BadRequest("'style' needs a 'name' string")
        return {"type": kind, "name": message["name"]}
    if kind == "strength":
        return {"type": kind, "value": _fraction(message.get("value"), "'strength' needs a 'value' between 0 and 1")}
    if kind == "blend":
        names = [message.get(key) for key in ("a", "b")]
        if not all(isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS for name in names):
            raise BadRequest(f"'blend' needs style names 'a' and 'b' (strings of at most {MAX_NAME_CHARS} characters)")
        value = _fraction(message.get("value"), "'blend' needs a 'value' between 0 (style a) and 1 (style b)")
        return {"type": kind, "a": names[0], "b": names[1], "value": value}
    if kind == "apply":
        if message.get("value") not in APPLY_MODES:
            raise BadRequest(f"'apply' needs a 'value' of {', '.join(APPLY_MODES)}")
        return {"type": kind, "value": message["value"]}
    if kind in ("style_enabled", "captions", "keep_colours"):
        if not isinstance(message.get("value"), bool):
            raise BadRequest(f"'{kind}' needs a true/false 'value'")
        return {"type": kind, "value": message["value"]}
    raise BadRequest(f"unknown control message type '{kind[:40]}'")


def _fraction(value: Any, complaint: str) -> float:
    """A JSON number in 0..1 as a float, else BadRequest(complaint). The range is checked first: it is False
    for NaN and infinities, and compares a 1000-digit integer exactly, where math.isfinite() would raise
    OverflowError converting it to a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise BadRequest(complaint)
    return float(value)
