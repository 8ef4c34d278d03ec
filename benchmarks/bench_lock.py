"""Throughput of the locked JSON counter against a hand-written flock loop.

Four processes each add 1 to a counter in one JSON file, many times. One run
uses ``update_json(path)`` with its lock file; the other runs the same steps
written by hand: open the sidecar, flock it, read the counter, write a
temporary file, fsync it, rename it over the counter, fsync the directory,
unlock. Both run in the same invocation, alternating, and the table reports
the median time of each and their ratio. The goal is a ratio of at most 1.2.

Run it with ``python benchmarks/bench_lock.py [--processes 4] [--increments
200] [--repeats 5]``; :func:`main` takes the same arguments as a list.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.synchronize import Event
from pathlib import Path

from atomicopen import update_json

KEY = "count"


def locked_counter(path: str, increments: int) -> None:
    """Add 1 ``increments`` times through update_json()."""
    for _ in range(increments):
        with update_json(path) as document:
            document[KEY] = document.get(KEY, 0) + 1


def flock_counter(path: str, increments: int) -> None:
    """Add 1 ``increments`` times with flock, a temporary file and rename."""
    directory = os.path.dirname(path)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(increments):
            lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                _replace_counter(path, directory, dir_fd)
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(lock_fd)
    finally:
        os.close(dir_fd)


def _replace_counter(path: str, directory: str, dir_fd: int) -> None:
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except FileNotFoundError:
        document = {}
    document[KEY] = document.get(KEY, 0) + 1
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=".bench.")
    with open(fd, "w", encoding="utf-8") as file:
        file.write(json.dumps(document, indent=2) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp_path, path)
    os.fsync(dir_fd)


def _worker(
    function: Callable[[str, int], None], path: str, increments: int, start: Event
) -> None:
    start.wait()
    function(path, increments)


def time_run(
    function: Callable[[str, int], None], processes: int, increments: int
) -> float:
    """Return the seconds that ``processes`` workers take for all increments.

    The workers start first and wait for a signal, so interpreter start-up is
    not timed.
    """
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as directory:
        path = str(Path(directory) / "counter.json")
        start = context.Event()
        workers = [
            context.Process(target=_worker, args=(function, path, increments, start))
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        time.sleep(1.0)  # lets every worker import and reach start.wait()
        began = time.perf_counter()
        start.set()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        if any(worker.exitcode != 0 for worker in workers):
            raise RuntimeError(f"a worker of {function.__name__} failed")
        count = json.loads(Path(path).read_text())[KEY]
        if count != processes * increments:
            raise RuntimeError(
                f"{function.__name__} lost updates: {count} of {processes * increments}"
            )
    return elapsed


def main(argv: Sequence[str] | None = None) -> float:
    """Run both counters, print a table and return the median time ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--increments", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args(argv)
    runs: dict[str, list[float]] = {"update_json": [], "flock by hand": []}
    for _ in range(arguments.repeats):
        for name, function in (
            ("update_json", locked_counter),
            ("flock by hand", flock_counter),
        ):
            runs[name].append(
                time_run(function, arguments.processes, arguments.increments)
            )
    total = arguments.processes * arguments.increments
    medians = {name: statistics.median(times) for name, times in runs.items()}
    print(
        f"{arguments.processes} processes x {arguments.increments} increments,"
        f" median of {arguments.repeats} runs"
    )
    print(f"{'counter':<15} {'median s':>9} {'updates/s':>10}")
    for name, median in medians.items():
        print(f"{name:<15} {median:>9.3f} {total / median:>10.0f}")
    ratio = medians["update_json"] / medians["flock by hand"]
    print(f"ratio update_json / flock by hand: {ratio:.2f} (goal: at most 1.20)")
    return ratio


if __name__ == "__main__":
    main()
