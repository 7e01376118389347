"""Validation of everything the browser sends: the /offer body and data-channel control messages.

Anything malformed becomes a `BadRequest` with a message the page can show; nothing from the network
reaches aiortc or the model unchecked.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_SDP_CHARS = 32 * 1024
MAX_CONTROL_BYTES = 2048
ROLES = ("send", "view")  # send: camera in, stylized out; view: stylized output only (OBS)


class BadRequest(ValueError):
    """The client sent something invalid; the message says what, in one sentence."""


@dataclass(frozen=True)
class Offer:
    sdp: str
    role: str


def _json(text: str | bytes, what: str) -> Any:
    """json.loads, with every way it can fail on hostile input as a BadRequest: deep nesting
    (60 KB of '[') exhausts the parser's recursion limit, which is not a JSONDecodeError."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
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
    """Cheap structural checks aiortc does not do (it accepts any text as an SDP with no media)."""
    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        raise BadRequest("'sdp' is not a session description (it must start with v=0)")
    video = [i for i, line in enumerate(lines) if line.startswith("m=video ")]
    if not video:
        raise BadRequest("the offer has no video (m=video) section")
    if not any(line.startswith("a=ice-ufrag:") for line in lines) or not any(
            line.startswith("a=fingerprint:") for line in lines):
        raise BadRequest("the offer lacks ICE credentials or a DTLS fingerprint")
    if role == "send":
        section = lines[video[0]:]
        if any(line in ("a=recvonly", "a=inactive") for line in section[1:_section_end(section)]):
            raise BadRequest("a 'send' offer must send video (its video section is recvonly/inactive)")


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
        value = message.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0.0 <= value <= 1.0:
            raise BadRequest("'strength' needs a 'value' between 0 and 1")
        return {"type": kind, "value": float(value)}
    if kind in ("style_enabled", "captions"):
        if not isinstance(message.get("value"), bool):
            raise BadRequest(f"'{kind}' needs a true/false 'value'")
        return {"type": kind, "value": message["value"]}
    raise BadRequest(f"unknown control message type '{kind[:40]}'")
