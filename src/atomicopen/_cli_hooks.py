"""The ``restore`` and ``verify`` subcommands, and the hook options of ``write``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._backups import restore_backup
from ._checksum import ALGORITHMS, DEFAULT_ALGORITHM, verify
from ._validators import VALIDATOR_NAMES
from .hooks import Checksum, CommitHook

_SubParsers = Any  # argparse._SubParsersAction, which typeshed makes generic

# Exit status of 'verify' when the content does not match the checksum.
EXIT_MISMATCH = 1


def add_write_hook_options(parser: argparse.ArgumentParser) -> None:
    """Add --validate, --backups and --checksum to the ``write`` subcommand."""
    parser.add_argument(
        "--validate",
        choices=VALIDATOR_NAMES,
        help="parse the new content first, and leave PATH unchanged if it is invalid",
    )
    parser.add_argument(
        "--backups",
        type=_backup_count,
        default=0,
        metavar="N",
        help="keep the previous N versions as PATH.1 (newest) to PATH.N; default 0",
    )
    parser.add_argument(
        "--checksum",
        action="store_true",
        help="write PATH.sha256 after the commit, in the format of sha256sum",
    )


def write_hook_options(arguments: argparse.Namespace) -> dict[str, Any]:
    """Return the atomic_open() keyword arguments for the hook options."""
    hooks: list[CommitHook] = []
    if arguments.checksum:
        hooks.append(Checksum(DEFAULT_ALGORITHM))
    return {
        "validate": arguments.validate,
        "backups": arguments.backups,
        "hooks": hooks,
    }


def add_restore_command(commands: _SubParsers) -> None:
    """Register ``atomicopen restore PATH [--index N]``."""
    parser = commands.add_parser(
        "restore",
        help="put a backup back as PATH, keeping the current PATH as that backup",
        description=(
            "Swap PATH with its backup PATH.N atomically, so that running the"
            " same command again undoes it."
        ),
        epilog="example: atomicopen restore config.json --index 2",
    )
    parser.add_argument("path", metavar="PATH", help="the live file")
    parser.add_argument(
        "--index",
        type=_backup_index,
        default=1,
        metavar="N",
        help="which backup: 1 (default) for the newest, PATH.1",
    )
    lock = parser.add_mutually_exclusive_group()
    lock.add_argument(
        "--lock",
        dest="lock",
        action="store_const",
        const=True,
        help="take the lock file PATH.lock, creating it if needed (default: take"
        " it only if it exists, as writers with --lock leave it)",
    )
    lock.add_argument(
        "--no-lock",
        dest="lock",
        action="store_const",
        const=False,
        help="do not take PATH.lock even if it exists",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        metavar="SECONDS",
        help="how long to wait for the lock before giving up; default: no limit",
    )
    parser.set_defaults(run=_run_restore, lock=None)


def add_verify_command(commands: _SubParsers) -> None:
    """Register ``atomicopen verify PATH``."""
    parser = commands.add_parser(
        "verify",
        help="check PATH against its checksum file, PATH.sha256 by default",
        description=(
            "Check PATH against the checksum that 'write --checksum' recorded."
            " Exit status 0 if it matches, 1 if it does not or on an error."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the file to check")
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default=DEFAULT_ALGORITHM,
        help="the checksum file's algorithm and suffix; default sha256",
    )
    parser.set_defaults(run=_run_verify)


def _run_restore(arguments: argparse.Namespace, stdin: object) -> int:
    restore_backup(
        arguments.path,
        arguments.index,
        lock=arguments.lock,
        lock_timeout=arguments.lock_timeout,
    )
    return 0


def _run_verify(arguments: argparse.Namespace, stdin: object) -> int:
    if verify(arguments.path, arguments.algorithm):
        return 0
    print(
        f"atomicopen: error: {arguments.path}: content does not match its"
        f" {arguments.algorithm} checksum; it was changed after the last commit",
        file=sys.stderr,
    )
    return EXIT_MISMATCH


def _backup_index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid backup index {text!r}: use 1 for the newest backup, 2 for the"
            " one before, and so on"
        )
    return value


def _backup_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid number {text!r}: use a whole number such as 3"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use 0 or more")
    return value
