"""Add 1 to the number in a counter file, several times, from one process.

Usage: python counter.py PATH TIMES [--no-lock]

Start several of these at once. With the lock, the file ends with the sum of
all TIMES. With --no-lock, increments get lost: two processes read the same
value, and both write that value plus 1.
"""

from __future__ import annotations

import sys

import portalocker

from atomicopen import atomic_open


def read_count(path: str) -> int:
    try:
        with open(path) as file:
            return int(file.read())
    except FileNotFoundError:
        return 0


def increment(path: str) -> None:
    count = read_count(path)
    with atomic_open(path) as file:
        file.write(f"{count + 1}\n")


def increment_locked(path: str) -> None:
    # The lock is on a sidecar file: each commit puts a new file at ``path``,
    # so a lock on ``path`` itself would lock the replaced file only.
    with portalocker.Lock(path + ".lock", flags=portalocker.LockFlags.EXCLUSIVE):
        increment(path)


def main() -> None:
    path, times = sys.argv[1], int(sys.argv[2])
    step = increment if "--no-lock" in sys.argv[3:] else increment_locked
    for _ in range(times):
        step(path)


if __name__ == "__main__":
    main()
