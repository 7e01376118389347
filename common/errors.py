"""One exception type for problems the user can fix.

`stream.py` turns a `UserError` into a single line on stderr and exit code 2;
anything else is a bug and keeps its traceback (shown with `--debug`).
"""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, files or machine, with a message that says how to fix it."""
