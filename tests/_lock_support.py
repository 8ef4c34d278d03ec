"""Workers and a Redis server for tests/test_locking.py.

The workers run in processes started with the ``spawn`` method, so they live
in a module that a fresh interpreter can import.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import portalocker

from atomicopen import AtomicFile, atomic_write_text, update_json

COUNT_KEY = "count"


def count_with_update_json(path: str, rounds: int, durability: str = "full") -> None:
    """Add 1 to the counter ``rounds`` times through update_json(lock=True)."""
    for _ in range(rounds):
        with update_json(path, durability=durability) as document:
            document[COUNT_KEY] = document.get(COUNT_KEY, 0) + 1


def count_with_target_lock(path: str, rounds: int) -> None:
    """Add 1 to the counter ``rounds`` times, locking the target itself.

    This is the design that the sidecar lock file replaces: the lock is on
    the inode that the next commit takes away from the path.
    """
    for _ in range(rounds):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            portalocker.lock(fd, portalocker.LOCK_EX)
            text = Path(path).read_text()
            count = json.loads(text)[COUNT_KEY] if text else 0
            atomic_write_text(
                path, json.dumps({COUNT_KEY: count + 1}), durability="none"
            )
            portalocker.unlock(fd)
        finally:
            os.close(fd)


def count_with_redis(path: str, rounds: int, port: int) -> None:
    """Add 1 to the counter ``rounds`` times under a RedisLock."""
    lock = make_redis_lock(port)
    for _ in range(rounds):
        with update_json(path, lock=lock, durability="none") as document:
            document[COUNT_KEY] = document.get(COUNT_KEY, 0) + 1


def make_redis_lock(
    port: int, channel: str = "atomicopen-test"
) -> portalocker.RedisLock:
    """Return a RedisLock on the test server that polls every 5 ms."""
    return portalocker.RedisLock(
        channel,
        redis_kwargs={"host": "127.0.0.1", "port": port},
        timeout=30,
        check_interval=0.005,
        thread_sleep_time=0.001,
        interrupt_on_lost=False,
    )


def hold_lock(path: str, ready: str) -> None:
    """Take the lock of ``path``, create ``ready`` and wait to be killed."""
    atomic = AtomicFile(path, "w", lock=True)
    atomic.open()
    Path(ready).touch()
    time.sleep(60)


def read_count(path: Path) -> int:
    """Return the counter stored in ``path``."""
    count: int = json.loads(path.read_text())[COUNT_KEY]
    return count


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def redis_server(executable: str, directory: Path) -> Iterator[int]:
    """Run redis-server on a free loopback port and yield the port.

    The server keeps nothing on disk and is stopped by its pid at the end.
    """
    port = free_loopback_port()
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as client:
                client.sendall(b"PING\r\n")
                if client.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s")
