"""Messages for the person at the terminal, on their own line even while a progress bar is drawn.

A plain print to stderr lands in the middle of tqdm's bar ("...| 12/30 [00:01<...]stylecast: warning"),
where nobody reads it; tqdm.write clears the bar, prints the line, and redraws the bar below it.
"""
from __future__ import annotations

import sys

PROG = "stylecast"


def say(message: str) -> None:
    """One status line on stderr: 'stylecast: MESSAGE'."""
    from tqdm import tqdm  # light, but only needed once something is said

    tqdm.write(f"{PROG}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """A problem that did not stop the run: 'stylecast: warning: MESSAGE', on its own line."""
    say(f"warning: {message}")
