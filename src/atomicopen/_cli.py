"""The ``atomicopen`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import BinaryIO

from . import __version__
from ._api import atomic_open
from ._cli_hooks import (
    add_restore_command,
    add_verify_command,
    add_write_hook_options,
    write_hook_options,
)
from ._options import DURABILITY_LEVELS

_CHUNK = 1 << 16

# Exit statuses: 1 for a failed operation, 2 for bad usage (argparse's own),
# 130 for an interrupt, as shells report SIGINT.
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def parse_permissions(text: str) -> int:
    """Parse an octal mode such as ``644`` or ``0o600`` for ``--permissions``."""
    digits = text.removeprefix("0o")
    try:
        value = int(digits, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid octal mode {text!r}: use digits 0-7, such as 644 or 0600"
        ) from None
    if not 0 <= value <= 0o7777:
        raise argparse.ArgumentTypeError(
            f"invalid mode {text!r}: use an octal mode from 0 to 7777"
        )
    return value


def _add_write_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "write",
        help="read standard input to its end, then replace PATH with it atomically",
        description=(
            "Read standard input to its end, then replace PATH with it atomically:"
            " a crash-safe sponge. On any failure PATH is left unchanged."
        ),
        epilog="example: jq '.debug = true' config.json | atomicopen write config.json",
    )
    parser.add_argument("path", metavar="PATH", help="the file to replace or create")
    parser.add_argument(
        "--durability",
        choices=DURABILITY_LEVELS,
        default="full",
        help="full: survives power loss (default); file: sync the file only;"
        " none: survives a crash of the process only",
    )
    parser.add_argument(
        "--permissions",
        type=parse_permissions,
        metavar="OCTAL",
        help="mode of the file, such as 600; default: keep the existing mode,"
        " or 666 less the umask for a new file",
    )
    parser.add_argument(
        "--no-follow-symlinks",
        dest="follow_symlinks",
        action="store_false",
        help="replace a symbolic link at PATH instead of the file it points to",
    )
    add_write_hook_options(parser)
    parser.set_defaults(run=_run_write)


def _run_write(arguments: argparse.Namespace, stdin: BinaryIO) -> int:
    with atomic_open(
        arguments.path,
        "wb",
        durability=arguments.durability,
        permissions=arguments.permissions,
        follow_symlinks=arguments.follow_symlinks,
        **write_hook_options(arguments),
    ) as file:
        while chunk := stdin.read(_CHUNK):
            file.write(chunk)
    return 0


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (  # type: ignore[type-arg]
    _add_write_command,
    add_restore_command,
    add_verify_command,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="atomicopen",
        description="Crash-safe atomic file writes from the shell.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    commands.required = True
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None, stdin: BinaryIO | None = None) -> int:
    """Run the command line and return its exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        status: int = arguments.run(arguments, stdin or sys.stdin.buffer)
    except KeyboardInterrupt:
        print("atomicopen: interrupted; nothing was changed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, ValueError) as error:
        print(f"atomicopen: error: {_describe(error)}", file=sys.stderr)
        return EXIT_FAILURE
    return status


def _describe(error: BaseException) -> str:
    """One line naming the path and the cause."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)
