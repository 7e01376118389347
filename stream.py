#!/usr/bin/env python3
"""stylecast: live neural style filter for webcams, browsers and video files.

The one command-line entry point. Each subcommand only parses its arguments and calls into
the packages (training/, export/, realtime/); heavy imports happen inside the handlers so
`--help` is instant.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Callable, Sequence

from common.errors import UserError

PROG = "stylecast"


def _parser(sub: argparse._SubParsersAction, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand parser whose --help ends with worked examples."""
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# --- styles -----------------------------------------------------------------------------------

def add_styles_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "styles", "List the shipped styles.", f"{PROG} styles")
    p.set_defaults(handler=cmd_styles)


def cmd_styles(args: argparse.Namespace) -> int:
    from training.checkpoint import list_styles

    styles = list_styles()
    if not styles:
        raise UserError("no styles are installed (the styles/ folder is empty); train one with `stylecast train`")
    width = max(len(s.name) for s in styles)
    for s in styles:
        print(f"{s.name:<{width}}  {s.description}")
    return 0


# --- main -------------------------------------------------------------------------------------

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_styles_parser,
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stylecast")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Live neural style filter: webcam, browser (WebRTC) or video file in; "
        "preview window, OBS virtual camera, browser or video file out.",
        epilog="Run `%(prog)s COMMAND --help` for the options and examples of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # full disk, permissions, vanished files: the user can act on these
        if args.debug:
            raise
        print(f"{PROG}: error: {exc.strerror or exc} ({exc.filename or 'I/O'})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
