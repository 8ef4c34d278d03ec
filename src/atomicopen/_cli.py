"""The ``atomicopen`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from . import __version__
from ._api import atomic_open
from ._cleanup_cli import add_clean_command
from ._cli_hooks import (
    add_restore_command,
    add_verify_command,
    add_write_hook_options,
    write_hook_options,
)
from ._cli_lock import add_lock_arguments, add_update_json_command, lock_requested
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
        epilog=(
            "example: jq '.debug = true' config.json | atomicopen write"
            " --validate json config.json"
        ),
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
    add_lock_arguments(parser, optional=True)
    add_write_hook_options(parser)
    parser.set_defaults(run=_run_write)


def _run_write(arguments: argparse.Namespace, stdin: BinaryIO | None) -> int:
    if stdin is None:
        # Reading nothing would commit an empty file.
        raise ValueError(
            f"standard input is closed, so there is no new content for"
            f" {arguments.path}; pipe it in, or redirect it from a file"
        )
    # main() reads it to tell whether an interrupt came before the commit.
    arguments.atomic_file = atomic_open(
        arguments.path,
        "wb",
        durability=arguments.durability,
        permissions=arguments.permissions,
        follow_symlinks=arguments.follow_symlinks,
        lock=lock_requested(arguments),
        lock_timeout=arguments.lock_timeout,
        **write_hook_options(arguments),
    )
    interactive = stdin.isatty()
    if interactive:
        # Without this line the command would wait in silence. An early Ctrl-D
        # commits empty content, so the line also names Ctrl-C.
        print(
            f"atomicopen: reading the new content of {arguments.path} from the"
            " terminal; end it with Ctrl-D on a line of its own, or cancel with"
            " Ctrl-C",
            file=sys.stderr,
        )
    with arguments.atomic_file as file:
        while chunk := stdin.read(_CHUNK):
            file.write(chunk)
            # Buffered standard input returns less than requested only at the
            # end of the input. A terminal ends it at each Ctrl-D, and the next
            # read() would wait for more, so the loop stops here.
            if interactive and len(chunk) < _CHUNK:
                break
    return 0


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (  # type: ignore[type-arg]
    _add_write_command,
    add_clean_command,
    add_update_json_command,
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


class _Terminated(BaseException):
    """Raised in place of the default action of SIGTERM and SIGHUP.

    A BaseException, like KeyboardInterrupt, so that the write in progress
    discards its temporary file and nothing catches it on the way up.
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


def _raise_terminated(signal_number: int, frame: object) -> None:
    raise _Terminated(signal_number)


def main(argv: Sequence[str] | None = None, stdin: BinaryIO | None = None) -> int:
    """Run the command line and return its exit status."""
    arguments = build_parser().parse_args(argv)
    # Warnings of the library, such as an owner that cannot be kept, go to
    # standard error as one line each.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("atomicopen: warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    package_logger = logging.getLogger("atomicopen")
    package_logger.addHandler(handler)
    previous_handlers = _catch_termination()
    try:
        status: int = arguments.run(arguments, stdin or _standard_input())
    except KeyboardInterrupt:
        print(f"atomicopen: interrupted{_outcome(arguments)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated as terminated:
        name = signal.Signals(terminated.signal_number).name
        print(f"atomicopen: stopped by {name}{_outcome(arguments)}", file=sys.stderr)
        return 128 + terminated.signal_number
    except (OSError, ValueError) as error:
        print(f"atomicopen: error: {_describe(error)}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        for signal_number, previous in previous_handlers.items():
            signal.signal(signal_number, previous)
        package_logger.removeHandler(handler)
    return status


def _standard_input() -> BinaryIO | None:
    """Return the binary standard input, or ``None`` if it is closed."""
    # Started with standard input closed, as by "<&-", Python sets it to None.
    return None if sys.stdin is None else sys.stdin.buffer


def _outcome(arguments: argparse.Namespace) -> str:
    """Describe what an interrupt left of the write, where the command tracks it."""
    atomic_file = getattr(arguments, "atomic_file", None)
    if atomic_file is None:
        return ""
    if atomic_file.committed:
        return (
            f" after {arguments.path} was replaced; the new content is in place,"
            " but may not be synced to disk yet"
        )
    return f"; {arguments.path} was left unchanged"


def _catch_termination() -> dict[int, Any]:
    """Make SIGTERM and SIGHUP discard the write in progress, as Ctrl-C does.

    Only the main thread may set signal handlers, so elsewhere, as when
    main() is called from a worker thread, the default actions stay.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signal_number = getattr(signal, name, None)
        if signal_number is not None:
            previous[signal_number] = signal.signal(signal_number, _raise_terminated)
    return previous


def _describe(error: BaseException) -> str:
    """Format the error as one line naming the path and the cause."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        name = os.fsdecode(error.filename)
        if repr(name) in error.strerror:
            # The message names the file already, as a validation error does.
            return error.strerror
        return f"{name}: {error.strerror}"
    return str(error)
