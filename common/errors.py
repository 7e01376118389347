"""One exception type for problems the user can fix.

`stream.py` turns a `UserError` into a single line on stderr and exit code 2;
anything else is a bug and keeps its traceback (shown with `--debug`).
"""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, files or machine, with a message that says how to fix it."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message as one short line (some libraries write several, some none)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError that reached the top: the program's own words for a full disk,
    else the system's reason and the file it concerns."""
    import errno

    where = exc.filename or getattr(exc, "filename2", None)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        place = f" while writing {where}" if where else ""
        return (f"the disk is full{place}: free some space (or write to another disk) and run again; "
                "a recording stopped this way plays up to its last complete second")
    return f"{exc.strerror or exc} ({where or 'I/O'})"
