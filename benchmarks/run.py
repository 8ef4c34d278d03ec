"""Benchmarks of atomicopen against other atomic-write libraries and the floor.

The floor is the hand-written system-call sequence of a durable replace:
open(O_CREAT | O_EXCL), write, fsync, close, rename, and fsync of the
directory. Every figure is a median over interleaved rounds, in which each
candidate runs one batch per round in a rotating order, so a slow spell of the
disk hits all of them alike. Ratios compare figures from the same run.

Run ``python benchmarks/run.py`` after ``pip install -e '.[bench]'``, or
``nox -s bench``. A run takes one to a few minutes, depending on how fast the
disk syncs, and ``--quick`` a fraction of that. As root the tmpfs sections
mount a tmpfs of their own; the system-call counts need strace.
These are measurements, not tests: the script never fails because of a figure.
Each table marks its target "met" or "MISSED", and a summary at the end lists
the missed ones.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from atomicopen import AtomicGroup, atomic_open

# The compared libraries come with the "bench" extra. Without them the script
# stops with one line instead of a traceback from inside writers.py.
BENCH_PACKAGES = ("atomicwrites", "safer", "boltons")
try:
    import writers
    from writers import Commit, Writer
except ModuleNotFoundError as error:
    missing = (error.name or "").partition(".")[0]
    if missing not in BENCH_PACKAGES:
        raise
    print(
        f"benchmarks/run.py: the compared library {missing!r} is not installed;"
        " install the bench extra with: pip install -e '.[bench]'",
        file=sys.stderr,
    )
    sys.exit(2)

HERE = Path(__file__).resolve().parent
KIB = 1 << 10
MIB = 1 << 20
DATA_1K = bytes(range(256)) * 4
LOCK_BENCHMARK = HERE / "bench_lock.py"


# Targets


@dataclass(frozen=True)
class TargetCheck:
    """One target, the figure this run recorded for it, and whether it was met."""

    name: str
    target: str
    recorded: str
    met: bool | None  # None: the figure could not be measured in this run

    @property
    def marker(self) -> str:
        """Return "met", "MISSED" or "not measured"."""
        if self.met is None:
            return "not measured"
        return "met" if self.met else "MISSED"

    def headline(self) -> str:
        """Return the target and its marker, as a table title shows them."""
        return f"target {self.target}: {self.marker} ({self.recorded})"


@dataclass(frozen=True)
class CommitTarget:
    """A limit on one writer's median commit time relative to the first, the floor.

    Exactly one of ``ratio`` (at most this many times the floor) and
    ``above_us`` (at most this many microseconds above the floor) is set.
    """

    name: str
    subject: Writer
    ratio: float | None = None
    above_us: float | None = None

    def check(self, medians: dict[str, float], floor: float) -> TargetCheck:
        """Judge the subject's median against the floor's."""
        value = medians[self.subject.name]
        if self.ratio is not None:
            return TargetCheck(
                self.name,
                f"{self.subject.name} <= {self.ratio}x floor",
                f"{value / floor:.2f}x",
                value / floor <= self.ratio,
            )
        assert self.above_us is not None  # one of the two is set
        above = (value - floor) * 1e6
        return TargetCheck(
            self.name,
            f"{self.subject.name} <= floor + {self.above_us:g} us",
            f"{above:+.1f} us",
            above <= self.above_us,
        )


def print_target_summary(checks: Sequence[TargetCheck], quick: bool) -> None:
    """Print every target with its marker, then the missed ones by name."""
    if not checks:
        return
    width = max(len(check.name) for check in checks)
    lines = [
        f"{check.marker:<12}  {check.name:<{width}}  {check.target};"
        f" recorded {check.recorded}"
        for check in checks
    ]
    missed = [check.name for check in checks if check.met is False]
    lines.append("")
    if missed:
        lines.append(f"missed {len(missed)} of {len(checks)} targets:")
        lines.extend(f"  {name}" for name in missed)
    else:
        lines.append(f"all {len(checks)} measured targets met")
    if quick:
        lines.append(
            "(--quick takes few rounds: a figure near its limit can land on"
            " either side; the full run decides)"
        )
    print_section("Targets", "\n".join(lines))


# Measuring


def median_per_call(
    candidates: dict[str, Callable[[], None]], rounds: int, batch: int
) -> dict[str, float]:
    """Return each candidate's median time per call in seconds.

    Each round runs ``batch`` calls of every candidate, starting with a
    different candidate each round. Every call is timed on its own, and the
    median is taken over all calls, so that a stall caused by another process
    on the machine moves it less than it would move a mean.
    """
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    # Warm-up: imports, caches and the first file creation, then more calls
    # until a second has passed, so that no candidate is timed cold.
    warm_until = clock() + WARM_UP_SECONDS
    while clock() < warm_until:
        for name in names:
            candidates[name]()
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call = candidates[name]
            record = samples[name].append
            for _ in range(batch):
                start = clock()
                call()
                record(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def commit_candidates(
    directory: Path, chosen: Sequence[Writer], data: bytes
) -> dict[str, Callable[[], None]]:
    """Build one argument-free call per writer, each on its own target file."""
    candidates = {}
    for index, writer in enumerate(chosen):
        target = directory / f"target-{index}.bin"
        target.write_bytes(data)
        commit = writer.make(str(target))
        candidates[writer.name] = _bind(commit, data)
    return candidates


def _bind(commit: Commit, data: bytes) -> Callable[[], None]:
    return lambda: commit(data)


# Sections


def bench_commits(  # noqa: PLR0917 - one call per table, each argument named
    title: str,
    directory: Path,
    chosen: Sequence[Writer],
    rounds: int,
    batch: int,
    target: CommitTarget | None,
    checks: list[TargetCheck],
) -> dict[str, object]:
    """Time 1 KiB commits of each writer against the first, the floor.

    The verdict on ``target``, if any, goes into the table's title and onto
    ``checks``.
    """
    medians = median_per_call(
        commit_candidates(directory, chosen, DATA_1K), rounds, batch
    )
    floor = medians[chosen[0].name]
    rows = []
    for writer in chosen:
        value = medians[writer.name]
        rows.append(
            [
                writer.name,
                f"{value * 1e6:.1f} us",
                f"{value / floor:.2f}x",
                f"{(value - floor) * 1e6:+.1f} us",
                writer.syncs,
            ]
        )
    title = f"{title} ({rounds} rounds x {batch} commits)"
    if target is not None:
        check = target.check(medians, floor)
        checks.append(check)
        title += f"\n{check.headline()}"
    print_table(
        title,
        ["writer", "median", "vs floor", "above floor", "fsync"],
        rows,
    )
    return {writer.name: medians[writer.name] for writer in chosen}


class HasFileno(Protocol):
    """An object with a fileno() method, which os.fsync() also accepts."""

    def fileno(self) -> int:
        """Return the descriptor."""
        ...


@contextlib.contextmanager
def sleep_after_fsync(seconds: float) -> Iterator[None]:
    """Make every os.fsync() call sleep ``seconds`` after it returns.

    On tmpfs an fsync returns at once; on a disk the process sleeps in it while
    the device writes. Sleeping after each fsync lets tmpfs show what that
    sleep costs the code that runs after it, without the disk's noise: the
    process comes back to caches that other work has filled meanwhile.
    Writers that bound os.fsync to a name of their own at import would not
    sleep, so only the floors and atomicopen take part.
    """
    real_fsync = os.fsync

    def fsync_then_sleep(fd: int | HasFileno) -> None:
        real_fsync(fd)
        time.sleep(seconds)

    os.fsync = fsync_then_sleep
    try:
        yield
    finally:
        os.fsync = real_fsync


def bench_streaming(
    directory: Path, size: int, rounds: int, checks: list[TargetCheck]
) -> dict[str, float]:
    """Time a stream of ``size`` bytes through atomic_open and through open()."""
    chunk = os.urandom(MIB)
    plain_path = directory / "stream-plain.bin"
    atomic_path = directory / "stream-atomic.bin"

    def plain() -> None:
        with open(plain_path, "wb") as file:
            for _ in range(size // MIB):
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())

    def atomic() -> None:
        with atomic_open(atomic_path, "wb") as file:
            for _ in range(size // MIB):
                file.write(chunk)

    medians = median_per_call(
        {"open().write() + fsync": plain, "atomic_open": atomic}, rounds, 1
    )
    plain_time = medians["open().write() + fsync"]
    throughput = plain_time / medians["atomic_open"]
    check = TargetCheck(
        "streaming",
        "atomic_open >= 0.97x plain writes",
        f"{throughput:.3f}x",
        throughput >= 0.97,
    )
    checks.append(check)
    rows = [
        [
            name,
            f"{value:.3f} s",
            f"{size / MIB / value:.0f} MiB/s",
            f"{plain_time / value:.3f}x",
        ]
        for name, value in medians.items()
    ]
    print_table(
        f"Streaming {size // MIB} MiB in 1 MiB writes on disk ({rounds} rounds;"
        f" throughput vs plain writes)\n{check.headline()}",
        ["writer", "median", "throughput", "vs plain"],
        rows,
    )
    plain_path.unlink(missing_ok=True)
    atomic_path.unlink(missing_ok=True)
    return medians


def bench_group(directory: Path, files: int, rounds: int) -> dict[str, float]:
    """Time ``files`` 1 KiB files as one AtomicGroup and as separate commits."""
    separate_dir = directory / "separate"
    group_dir = directory / "group"
    floor_dir = directory / "group-floor"
    for path in (separate_dir, group_dir, floor_dir):
        path.mkdir(exist_ok=True)
    names = [f"file-{index:03}.bin" for index in range(files)]

    def separate() -> None:
        for name in names:
            with atomic_open(separate_dir / name, "wb") as file:
                file.write(DATA_1K)

    def group() -> None:
        with AtomicGroup(group_dir) as files_group:
            for name in names:
                files_group.open(name, "wb").write(DATA_1K)

    def floor() -> None:
        _floor_group(floor_dir, names, DATA_1K)

    medians = median_per_call(
        {
            f"{files} x atomic_open": separate,
            "AtomicGroup": group,
            "floor: fsync each, rename all, fsync dir": floor,
        },
        rounds,
        1,
    )
    separate_time = medians[f"{files} x atomic_open"]
    rows = [
        [name, f"{value * 1e3:.2f} ms", f"{separate_time / value:.2f}x"]
        for name, value in medians.items()
    ]
    print_table(
        f"{files} files of 1 KiB in one directory, on disk ({rounds} rounds;"
        " speed-up vs separate commits)",
        ["writer", "median", "speed-up"],
        rows,
    )
    return medians


def _floor_group(directory: Path, names: list[str], data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for name in names:
        fd = os.open(directory / (name + ".tmp"), flags, 0o666)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    for name in names:
        os.rename(directory / (name + ".tmp"), directory / name)
    directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


LOCK_RATIO = re.compile(r"ratio update_json / flock by hand: ([0-9.]+)")


def bench_lock(quick: bool, checks: list[TargetCheck]) -> str:
    """Run benchmarks/bench_lock.py as a child and judge its ratio.

    The full run takes the median of 9 runs of each counter, because 4
    processes on a shared machine make single runs vary by a fifth; --quick
    takes fewer increments and runs. The child's output is printed as it is,
    followed by the verdict.
    """
    command = [sys.executable, str(LOCK_BENCHMARK), "--processes", "4"]
    if quick:
        command += ["--increments", "50", "--repeats", "3"]
    else:
        command += ["--repeats", "9"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + (
        f"\n(exit status {result.returncode}) {result.stderr}"
        if result.returncode
        else ""
    )
    found = LOCK_RATIO.search(result.stdout) if result.returncode == 0 else None
    ratio = float(found.group(1)) if found else None
    check = TargetCheck(
        "locked counter",
        "update_json <= 1.2x flock loop",
        f"{ratio:.2f}x" if ratio is not None else "no ratio in the output",
        ratio <= 1.2 if ratio is not None else None,
    )
    checks.append(check)
    print_section(
        "Locked JSON counter, 4 processes (benchmarks/bench_lock.py)",
        f"{output.rstrip()}\n{check.headline()}",
    )
    return output


def bench_syscalls(
    directory: Path, chosen: Sequence[Writer], checks: list[TargetCheck]
) -> dict[str, dict[str, int]]:
    """Count the system calls of one commit with strace -f -c.

    A child makes N commits and another 2N; the difference divided by N is
    the count per commit, free of the interpreter's start-up.
    """
    strace = shutil.which("strace")
    if strace is None:
        print_section("System calls per commit", "skipped: strace is not installed")
        return {}
    count = 200
    per_commit: dict[str, dict[str, int]] = {}
    for writer in chosen:
        small = _strace_counts(strace, writer, directory, count)
        large = _strace_counts(strace, writer, directory, 2 * count)
        # Rounded: a rare call, such as a read of a lazily loaded module,
        # leaves a fraction that is no part of a commit.
        per_commit[writer.name] = {
            name: round((large.get(name, 0) - small.get(name, 0)) / count)
            for name in set(small) | set(large)
        }
    _print_syscalls(per_commit, chosen, _syscall_checks(per_commit, checks))
    return per_commit


SYSCALL_TARGETS = (
    ("system calls, durable", writers.ATOMICOPEN, writers.FLOOR, "floor"),
    (
        "system calls, none",
        writers.ATOMICOPEN_NONE,
        writers.FLOOR_NOSYNC,
        "floor without fsync",
    ),
)


def _syscall_checks(
    per_commit: dict[str, dict[str, int]], checks: list[TargetCheck]
) -> list[TargetCheck]:
    """Judge atomicopen's calls per commit against its floor plus 2."""
    syscall_checks = []
    for name, subject, floor, label in SYSCALL_TARGETS:
        if subject.name not in per_commit or floor.name not in per_commit:
            continue
        extra = sum(per_commit[subject.name].values()) - sum(
            per_commit[floor.name].values()
        )
        syscall_checks.append(
            TargetCheck(
                name, f"{subject.name} <= {label} + 2", f"{extra:+}", extra <= 2
            )
        )
    checks.extend(syscall_checks)
    return syscall_checks


def _strace_counts(
    strace: str, writer: Writer, directory: Path, commits: int
) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as output:
        subprocess.run(
            [
                strace,
                "-f",
                "-c",
                "-o",
                output.name,
                sys.executable,
                str(Path(__file__).resolve()),
                "--child-commits",
                writer.name,
                str(directory),
                str(commits),
            ],
            check=True,
            capture_output=True,
        )
        return _parse_strace_summary(output.read())


def _parse_strace_summary(text: str) -> dict[str, int]:
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall"
        if (
            len(fields) >= 5
            and fields[0][0].isdigit()
            and fields[3].isdigit()
            and fields[-1] != "total"
        ):
            counts[fields[-1]] = int(fields[3])
    return counts


def _print_syscalls(
    per_commit: dict[str, dict[str, int]],
    chosen: Sequence[Writer],
    syscall_checks: Sequence[TargetCheck],
) -> None:
    totals = {name: sum(calls.values()) for name, calls in per_commit.items()}
    rows = []
    for writer in chosen:
        calls = per_commit[writer.name]
        total = totals[writer.name]
        # Writers that skip both fsyncs are compared with the floor that does.
        unsynced = writer.syncs.startswith("none")
        floor = totals[(writers.FLOOR_NOSYNC if unsynced else writers.FLOOR).name]
        detail = ", ".join(
            f"{name} {value}" for name, value in sorted(calls.items()) if value
        )
        rows.append([writer.name, str(total), f"{total - floor:+}", detail])
    print_table(
        "System calls per 1 KiB commit (strace -f -c; writers without fsync"
        " against the floor without fsync)\n"
        + "\n".join(check.headline() for check in syscall_checks),
        ["writer", "calls", "vs floor", "by system call"],
        rows,
    )


# Flat memory: the tracemalloc peak of the largest stream may exceed that of
# the smallest by this much. A buffered copy of even one 1 MiB write exceeds it.
MEMORY_GROWTH_LIMIT = 64 * KIB


def bench_memory(
    directory: Path, sizes: Sequence[int], checks: list[TargetCheck]
) -> dict[str, object]:
    """Measure peak memory of a child streaming each size through atomic_open."""
    results = {}
    rows = []
    for size in sizes:
        completed = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child-stream",
                str(directory / "memory.bin"),
                str(size),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        measured = json.loads(completed.stdout)
        results[str(size)] = measured
        rows.append(
            [
                f"{size // MIB} MiB",
                f"{measured['traced_peak'] / KIB:.0f} KiB",
                f"{measured['maxrss_kib'] / KIB:.1f} MiB",
            ]
        )
    (directory / "memory.bin").unlink(missing_ok=True)
    peaks = [results[str(size)]["traced_peak"] for size in sizes]
    growth = peaks[-1] - peaks[0]
    check = TargetCheck(
        "memory",
        f"flat tracemalloc peak (grows <= {MEMORY_GROWTH_LIMIT // KIB} KiB"
        f" from {sizes[0] // MIB} to {sizes[-1] // MIB} MiB)",
        f"{growth / KIB:+.0f} KiB",
        growth <= MEMORY_GROWTH_LIMIT,
    )
    checks.append(check)
    print_table(
        "Peak memory of a child streaming through atomic_open in 1 MiB writes\n"
        + check.headline(),
        ["streamed", "tracemalloc peak", "ru_maxrss"],
        rows,
    )
    return results


# Children run under strace or for a memory measurement


def child_commits(writer_name: str, directory: str, count: int) -> None:
    """Make ``count`` commits with the named writer."""
    target = os.path.join(directory, "syscalls.bin")
    Path(target).write_bytes(DATA_1K)
    commit = writers.BY_NAME[writer_name].make(target)
    commit(DATA_1K)  # imports and first-call set-up, in both children alike
    for _ in range(count):
        commit(DATA_1K)


def child_stream(path: str, size: int) -> None:
    """Stream ``size`` bytes through atomic_open and print the peaks as JSON."""
    chunk = os.urandom(MIB)
    tracemalloc.start()
    with atomic_open(path, "wb") as file:
        for _ in range(size // MIB):
            file.write(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"traced_peak": peak, "maxrss_kib": maxrss}))


# Places


def file_system_of(path: Path) -> tuple[str, str]:
    """Return the file system type and source of the mount that contains ``path``."""
    best = ("", "?", "?")
    resolved = str(path.resolve())
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            mount_point = fields[4]
            separator = fields.index("-")
            fs_type, source = fields[separator + 1], fields[separator + 2]
            inside = resolved == mount_point or resolved.startswith(
                mount_point.rstrip("/") + "/"
            )
            if inside and len(mount_point) >= len(best[0]):
                best = (mount_point, fs_type, source)
    return best[1], best[2]


@contextlib.contextmanager
def disk_directory(parent: Path) -> Iterator[Path]:
    """Yield a fresh directory under ``parent`` and remove it afterwards."""
    path = Path(tempfile.mkdtemp(prefix="atomicopen-bench-", dir=parent))
    fs_type, _ = file_system_of(path)
    if fs_type in {"tmpfs", "ramfs"}:
        print(
            f"warning: {path} is on {fs_type}, not a disk; pass --disk with a"
            " directory on a real disk",
            file=sys.stderr,
        )
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def tmpfs_directory(given: Path | None) -> Iterator[Path | None]:
    """Yield a directory on tmpfs: ``given``, a fresh mount, or ``None``.

    Mounting needs root; without it /dev/shm serves if it is a tmpfs.
    """
    if given is not None:
        yield given
        return
    point = Path(tempfile.mkdtemp(prefix="atomicopen-bench-tmpfs-"))
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        if mounted:
            yield point
        elif file_system_of(Path("/dev/shm"))[0] == "tmpfs":
            with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
                yield Path(shm)
        else:
            yield None
    finally:
        if mounted:
            subprocess.run(["umount", str(point)], check=False)
        point.rmdir()


# Report


def describe_machine(disk: Path, tmpfs: Path | None) -> dict[str, str]:
    """Return the facts a reader needs to weigh the figures."""
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    disk_type, disk_source = file_system_of(disk)
    versions = {}
    for package in ("atomicopen", "atomicwrites", "safer", "boltons"):
        with contextlib.suppress(Exception):
            versions[package] = version(package)
    facts = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "disk": f"{disk} on {disk_type} ({disk_source})",
        "tmpfs": str(tmpfs) if tmpfs else "none",
        "load average at start": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "packages": ", ".join(f"{name} {value}" for name, value in versions.items()),
    }
    print_section(
        "Machine", "\n".join(f"{key}: {value}" for key, value in facts.items())
    )
    return facts


def print_section(title: str, body: str) -> None:
    """Print a titled block of text; the title may span several lines."""
    rule = "-" * max(len(line) for line in title.splitlines())
    print(f"\n{title}\n{rule}\n{body.rstrip()}", flush=True)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print rows as a plain-text table under ``title``."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    print_section(title, "\n".join(line.rstrip() for line in lines))


# Command line


SECTIONS = (
    "commit",
    "wake",
    "none",
    "stream",
    "group",
    "lock",
    "syscalls",
    "memory",
)
# About as long as one fsync of 1 KiB takes on the disk of the recorded run.
WAKE_SLEEP = 200e-6
WARM_UP_SECONDS = 1.0


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and smaller streams"
    )
    parser.add_argument(
        "--disk",
        type=Path,
        default=Path("/var/tmp"),
        help="directory on a real disk to work in (default: /var/tmp)",
    )
    parser.add_argument(
        "--tmpfs",
        type=Path,
        help="directory on a tmpfs (default: mount one, which needs root)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {', '.join(SECTIONS)}",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def run_tmpfs_sections(
    tmpfs: Path,
    only: set[str],
    quick: bool,
    results: dict[str, object],
    checks: list[TargetCheck],
) -> None:
    """Run the chosen commit sections that work on tmpfs.

    The section that sleeps after each fsync comes last, so that its sleeps
    cannot affect the sections with targets.
    """
    if "commit" in only:
        results["commit_tmpfs"] = bench_commits(
            "1 KiB durable commits on tmpfs",
            tmpfs,
            writers.DURABLE,
            rounds=9 if quick else 51,
            batch=100 if quick else 300,
            target=CommitTarget(
                "durable commit on tmpfs", writers.ATOMICOPEN, above_us=15
            ),
            checks=checks,
        )
    if "none" in only:
        results["none_tmpfs"] = bench_unsynced("tmpfs", tmpfs, 300, quick, checks)
    if "wake" in only:
        with sleep_after_fsync(WAKE_SLEEP):
            results["commit_tmpfs_wake"] = bench_commits(
                "1 KiB durable commits on tmpfs, sleeping"
                f" {WAKE_SLEEP * 1e6:.0f} us after each fsync",
                tmpfs,
                (writers.FLOOR, writers.FLOOR_GUARDED, writers.ATOMICOPEN),
                rounds=5 if quick else 31,
                batch=20 if quick else 50,
                target=None,
                checks=checks,
            )


def bench_unsynced(
    place: str, directory: Path, batch: int, quick: bool, checks: list[TargetCheck]
) -> dict[str, object]:
    """Time 1 KiB commits without fsync against the floor without fsync."""
    return bench_commits(
        f"1 KiB commits without fsync on {place}",
        directory,
        writers.UNSYNCED,
        rounds=9 if quick else 101,
        batch=batch // 3 if quick else batch,
        target=CommitTarget(
            f"none commit on {place}", writers.ATOMICOPEN_NONE, ratio=1.3
        ),
        checks=checks,
    )


def run(arguments: argparse.Namespace) -> dict[str, object]:
    """Run the chosen sections and return their figures."""
    quick = arguments.quick
    only = set(arguments.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; use {SECTIONS}")
    results: dict[str, object] = {}
    checks: list[TargetCheck] = []
    with (
        disk_directory(arguments.disk) as disk,
        tmpfs_directory(arguments.tmpfs) as tmpfs,
    ):
        results["machine"] = describe_machine(disk, tmpfs)
        results["command"] = " ".join([Path(sys.executable).name, *sys.argv])
        if tmpfs is not None:
            run_tmpfs_sections(tmpfs, only, quick, results, checks)
        if "commit" in only:
            results["commit_disk"] = bench_commits(
                "1 KiB durable commits on disk",
                disk,
                writers.DURABLE,
                rounds=9 if quick else 101,
                batch=10 if quick else 20,
                target=CommitTarget(
                    "durable commit on disk", writers.ATOMICOPEN, ratio=1.05
                ),
                checks=checks,
            )
        if "none" in only:
            results["none_disk"] = bench_unsynced("disk", disk, 50, quick, checks)
        if "stream" in only:
            results["stream"] = bench_streaming(
                disk, (64 if quick else 256) * MIB, 3 if quick else 21, checks
            )
        if "group" in only:
            results["group"] = bench_group(disk, 100, rounds=3 if quick else 31)
        if "lock" in only:
            results["lock"] = bench_lock(quick, checks)
        if "syscalls" in only:
            results["syscalls"] = bench_syscalls(
                tmpfs or disk,
                (
                    writers.FLOOR,
                    writers.FLOOR_OPEN,
                    *writers.DURABLE[1:],
                    writers.FLOOR_NOSYNC,
                    writers.ATOMICOPEN_NONE,
                ),
                checks,
            )
        if "memory" in only:
            sizes = (16 * MIB, 256 * MIB) if quick else (64 * MIB, 1024 * MIB)
            results["memory"] = bench_memory(disk, sizes, checks)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print_section("Load average at end", load)
    results["load_at_end"] = load
    print_target_summary(checks, quick)
    results["targets"] = [asdict(check) for check in checks]
    return results


def main(argv: Sequence[str]) -> int:
    """Run the benchmarks, or one child step when called with --child-*."""
    if argv[:1] == ["--child-commits"]:
        child_commits(argv[1], argv[2], int(argv[3]))
        return 0
    if argv[:1] == ["--child-stream"]:
        child_stream(argv[1], int(argv[2]))
        return 0
    arguments = parse_arguments(argv)
    results = run(arguments)
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
