"""How long a narration line stays on screen: long enough to read it, short enough to keep up."""
from __future__ import annotations

# Comfortable subtitle reading speeds (characters per second) and the on-screen limits (seconds).
READING_CPS = {"en": 16.0, "zh": 8.5}
MIN_SECONDS, MAX_SECONDS = 1.0, 7.0


def reading_seconds(text: str, lang: str) -> float:
    """Seconds to show `text`: its length at the language's reading speed, clamped to 1-7 s."""
    chars = len("".join(text.split())) if lang == "zh" else len(" ".join(text.split()))
    seconds = chars / READING_CPS.get(lang, READING_CPS["en"])
    return min(MAX_SECONDS, max(MIN_SECONDS, seconds))
