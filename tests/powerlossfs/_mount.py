"""Client side: start the server process, send control commands, unmount."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ._model import CrashModel
from ._protocol import CONTROL_NAME, OPERATION_KINDS

__all__ = ["PowerLossMount", "missing_requirements"]

# The server runs as ``python -m tests.powerlossfs``, so the directory that
# contains ``tests`` goes on its import path.
_IMPORT_ROOT = Path(__file__).resolve().parents[__package__.count(".") + 1]


def missing_requirements() -> str | None:
    """Return why the file system cannot mount here, or None if it can."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401, PLC0415
    except ImportError as exc:
        return f"mfusepy cannot be imported: {exc}"
    except OSError as exc:
        # mfusepy raises OSError when it cannot load libfuse3.so.
        return f"mfusepy cannot load libfuse: {exc}"
    return None


class PowerLossMount:
    """A power-loss file system served by a child process.

    :param backing: directory whose content is the initial disk, and which
        contains the disk image after each :meth:`crash` and after :meth:`stop`
    :param mountpoint: empty directory to mount on
    :param debug: run libfuse with ``-d``, which logs every request

    The server's log goes to :attr:`log_path`, next to the mountpoint.

    Example::

        with PowerLossMount(backing, mnt) as fs:
            (mnt / "f").write_bytes(b"data")
            fs.crash("drop-all")
        assert not (backing / "f").exists()
    """

    def __init__(self, backing: Path, mountpoint: Path, *, debug: bool = False) -> None:
        self.backing = backing
        self.mountpoint = mountpoint
        self.debug = debug
        self.log_path = mountpoint.with_name(mountpoint.name + ".log")
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PowerLossMount:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def control_path(self) -> Path:
        """Path of the control file inside the mount."""
        return self.mountpoint / CONTROL_NAME

    # -- life cycle -----------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until the mount is up.

        :raises RuntimeError: if the server exits or does not mount in time
        """
        command = [sys.executable, "-m", __package__, str(self.backing)]
        command.append(str(self.mountpoint))
        if self.debug:
            command.append("--debug")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_IMPORT_ROOT), env.get("PYTHONPATH")])
        )
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mountpoint):
            if self._process.poll() is not None:
                raise RuntimeError(self._failure("exited before mounting"))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(self._failure(f"did not mount in {timeout} s"))
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Unmount with ``fusermount3 -u`` and wait for the server to exit.

        A busy mount, held by a process with an open file or working directory
        in it, is detached lazily (``-u -z``) and its server gets SIGTERM. A
        server that does not exit in *timeout* seconds is killed. Calling this
        twice is harmless.
        """
        process, self._process = self._process, None
        if os.path.ismount(self.mountpoint):
            unmount = subprocess.run(
                ["fusermount3", "-u", str(self.mountpoint)],
                capture_output=True,
                check=False,
            )
            if unmount.returncode != 0:
                _lazy_unmount(self.mountpoint)
                # A lazily detached FUSE mount stays served until its last
                # user goes away, so stop the server: libfuse exits its loop
                # on SIGTERM and still calls destroy.
                if process is not None:
                    process.terminate()
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            _lazy_unmount(self.mountpoint)

    def _failure(self, what: str) -> str:
        log = self.log_path.read_text(errors="replace")
        return f"powerlossfs server for {self.mountpoint} {what}. Its log:\n{log}"

    # -- control commands -----------------------------------------------------

    def command(self, line: str) -> None:
        """Send one control command.

        :raises OSError: with EINVAL if the server rejects the command
        """
        fd = os.open(self.control_path, os.O_WRONLY)
        try:
            os.write(fd, line.encode() + b"\n")
        finally:
            os.close(fd)

    def status(self) -> dict[str, Any]:
        """Return the server status.

        Keys: ``crashes`` (count), ``frozen`` (bool), ``trigger`` (the armed
        trigger or None) and ``counts`` (operations per kind since the last
        ``arm``).
        """
        fd = os.open(self.control_path, os.O_RDONLY)
        try:
            data = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        status: dict[str, Any] = json.loads(data)
        return status

    def crash(self, model: CrashModel | str) -> None:
        """Simulate a power loss now and reboot onto the surviving image.

        Afterwards the backing directory and the mount both show the image.
        Handles opened before the crash fail with EIO.
        """
        self.command(f"crash {CrashModel(model).value}")

    def arm(
        self, kind: str, nth: int, model: CrashModel | str, *, after: bool = False
    ) -> None:
        """Crash when the *nth* operation of *kind* arrives, counted from now.

        With ``after=False`` the operation fails with EIO and has no effect,
        with ``after=True`` it succeeds first. Either way the file system then
        freezes: every operation fails with EIO until :meth:`thaw`.

        :raises ValueError: if *kind* is not one of :data:`OPERATION_KINDS`
        """
        if kind not in OPERATION_KINDS:
            raise ValueError(
                f"unknown operation kind {kind!r}: use one of {sorted(OPERATION_KINDS)}"
            )
        when = "after" if after else "before"
        self.command(f"arm {kind} {nth} {CrashModel(model).value} {when}")

    def disarm(self) -> None:
        """Cancel an armed crash."""
        self.command("disarm")

    def thaw(self) -> None:
        """End the freeze that follows an armed crash."""
        self.command("thaw")

    def sync(self) -> None:
        """Make every pending change durable, as sync(2) does."""
        self.command("sync")


def _lazy_unmount(mountpoint: Path) -> None:
    subprocess.run(
        ["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True, check=False
    )
