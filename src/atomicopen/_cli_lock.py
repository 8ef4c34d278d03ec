"""Command-line options for locking, and the ``update-json`` subcommand."""

from __future__ import annotations

import argparse
import json
import math
from typing import BinaryIO

from ._options import DURABILITY_LEVELS
from ._update import update_json

__all__ = ["add_lock_arguments", "add_update_json_command", "lock_requested"]


def parse_seconds(text: str) -> float:
    """Parse a number of seconds of 0 or more for ``--lock-timeout``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {text!r}: use 0 or more, such as 2.5"
        )
    return value


def parse_number(text: str) -> int | float:
    """Parse the integer or decimal number of ``--increment``."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(
            f"invalid number {text!r}: use an integer such as 1 or -3, or a"
            " decimal such as 0.5"
        )
    return value


def add_lock_arguments(parser: argparse.ArgumentParser, *, optional: bool) -> None:
    """Add ``--lock-timeout``, and ``--lock`` when locking is ``optional``."""
    if optional:
        parser.add_argument(
            "--lock",
            action="store_true",
            help="hold an exclusive lock on PATH.lock while writing, so that"
            " concurrent writers that also lock take turns",
        )
    parser.add_argument(
        "--lock-timeout",
        type=parse_seconds,
        metavar="SECONDS",
        help="give up after waiting this many seconds for the lock"
        + (" (implies --lock)" if optional else "")
        + "; default: wait as long as it takes",
    )


def lock_requested(arguments: argparse.Namespace) -> bool:
    """Tell whether the arguments ask for the lock file."""
    return bool(getattr(arguments, "lock", True)) or arguments.lock_timeout is not None


def add_update_json_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``update-json PATH KEY --increment N``."""
    parser = commands.add_parser(
        "update-json",
        help="change a key of a JSON object file under the lock and print its"
        " new value",
        description=(
            "Lock PATH.lock, load the JSON object in PATH, add N to the number at"
            " KEY, replace PATH atomically and print the new value. Any number of"
            " processes can count this way without losing an update. A missing"
            " PATH starts as {} and a missing KEY as 0."
        ),
        epilog="example: atomicopen update-json counters.json builds --increment 1",
    )
    parser.add_argument("path", metavar="PATH", help="the JSON file to update")
    parser.add_argument("key", metavar="KEY", help="the top-level key to change")
    parser.add_argument(
        "--increment",
        type=parse_number,
        required=True,
        metavar="N",
        help="the number to add to the value at KEY; negative to subtract",
    )
    add_lock_arguments(parser, optional=False)
    parser.add_argument(
        "--durability",
        choices=DURABILITY_LEVELS,
        default="full",
        help="full: survives power loss (default); file: sync the file only;"
        " none: survives a crash of the process only",
    )
    parser.set_defaults(run=_run_update_json)


def _run_update_json(arguments: argparse.Namespace, stdin: BinaryIO) -> int:
    path, key = arguments.path, arguments.key
    with update_json(
        path,
        durability=arguments.durability,
        lock=True,
        lock_timeout=arguments.lock_timeout,
    ) as document:
        if not isinstance(document, dict):
            raise ValueError(
                f"{path!r} contains a JSON {type(document).__name__}, not an object;"
                " update-json changes keys of an object. The file was left"
                " unchanged"
            )
        value = _increment(document.get(key, 0), arguments.increment, path, key)
        document[key] = value
    print(json.dumps(value))
    return 0


def _increment(value: object, increment: int | float, path: str, key: str) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"the value of {key!r} in {path!r} is {json.dumps(value)}, not a"
            " number, so it cannot be incremented; the file was left unchanged"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"the value of {key!r} in {path!r} is out of the range of a float, so"
            " it cannot be incremented; the file was left unchanged"
        )
    try:
        result = value + increment
    except OverflowError:
        # An integer too large for a float, plus a decimal increment.
        result = math.inf
    if isinstance(result, float) and not math.isfinite(result):
        raise ValueError(
            f"adding {increment!r} to {key!r} in {path!r} overflows a float, which"
            " JSON cannot store; the file was left unchanged"
        )
    return result
