"""The ``atomicopen clean`` command."""

from __future__ import annotations

import argparse
import sys

from ._cleanup import DEFAULT_OLDER_THAN, clean_directory

EXIT_FAILURE = 1


def parse_seconds(text: str) -> float:
    """Parse a non-negative number of seconds for ``--older-than``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {text!r}: use a number such as 3600"
        ) from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {text!r}: use 0 or more, such as 3600"
        )
    return value


def add_clean_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``atomicopen clean DIR [--older-than SECONDS] [--dry-run]``."""
    parser = commands.add_parser(
        "clean",
        help="remove the temporary files that killed writers left in DIR",
        description=(
            "Remove the temporary files (.atomicopen.*) that writers killed"
            " mid-write left in DIR, and print each removed path on its own line."
            " A file that a live writer still holds is never removed, and"
            " subdirectories are not searched."
        ),
        epilog="example: atomicopen clean --older-than 600 /var/lib/myapp",
    )
    parser.add_argument("directory", metavar="DIR", help="the directory to clean")
    parser.add_argument(
        "--older-than",
        type=parse_seconds,
        default=DEFAULT_OLDER_THAN,
        metavar="SECONDS",
        help="remove only files whose content and status last changed at least"
        " this many seconds ago"
        f" (default: {DEFAULT_OLDER_THAN:g}; 0 removes every unlocked one)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be removed, and remove nothing",
    )
    parser.set_defaults(run=_run_clean)


def _kept_reason(count: int, arguments: argparse.Namespace) -> str:
    if arguments.older_than == 0:
        return f"kept {count} temporary file(s) that a live writer holds"
    return (
        f"kept {count} temporary file(s) that changed in the last"
        f" {arguments.older_than:g} seconds or that a live writer holds;"
        " --older-than 0 also removes recent ones that no writer holds"
    )


def _run_clean(arguments: argparse.Namespace, stdin: object) -> int:
    result = clean_directory(
        arguments.directory, older_than=arguments.older_than, dry_run=arguments.dry_run
    )
    for path in result.removed:
        print(path)
    for error in result.failed:
        print(f"atomicopen: error: {error.filename}: {error.strerror}", file=sys.stderr)
    if result.kept:
        print(
            f"atomicopen: {_kept_reason(len(result.kept), arguments)}", file=sys.stderr
        )
    return EXIT_FAILURE if result.failed else 0
