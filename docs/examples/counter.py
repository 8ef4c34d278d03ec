"""Add 1 to the count in a JSON counter file, several times, from one process.

Usage: python counter.py PATH TIMES [--no-lock]

Start several of these at once. With the lock, the file ends with the sum of
all TIMES. With --no-lock, increments get lost: two processes read the same
value, and both write that value plus 1.
"""

from __future__ import annotations

import json
import sys

from atomicopen import atomic_write_json, update_json


def increment(path: str) -> None:
    try:
        with open(path, encoding="utf-8") as file:
            counter = json.load(file)
    except FileNotFoundError:
        counter = {}
    counter["count"] = counter.get("count", 0) + 1
    atomic_write_json(path, counter)


def increment_locked(path: str) -> None:
    # lock=True (the default of update_json) holds a lock on PATH.lock from
    # the read to the end of the commit. The lock is on that sidecar file
    # because each commit puts a new file at PATH.
    with update_json(path, lock=True) as counter:
        counter["count"] = counter.get("count", 0) + 1


def main() -> None:
    path, times = sys.argv[1], int(sys.argv[2])
    step = increment if "--no-lock" in sys.argv[3:] else increment_locked
    for _ in range(times):
        step(path)


if __name__ == "__main__":
    main()
