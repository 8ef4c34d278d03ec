"""A writer process for the crash tests: one commit, run by path in a subprocess.

Usage: ``python _crash_writer.py TARGET MODE DURABILITY HEX_DATA [--hold]``.

It imports everything first and then writes ``COMMIT-START`` and, after the
commit, ``COMMIT-END`` to a descriptor on ``/dev/null``, so that an strace log
shows which system calls belong to the commit. It prints the outcome as one
JSON line: ``{"ok": true}`` or the error's type, errno and message.

With ``--hold`` it prints the temporary file's path after writing and flushing,
then waits for a line on standard input before it commits, so a test can look
at a live writer or kill it there.
"""

from __future__ import annotations

import json
import os
import sys

from atomicopen import AtomicFile

START_MARKER = b"COMMIT-START"
END_MARKER = b"COMMIT-END"


def main() -> None:
    target, mode, durability, data_hex, *flags = sys.argv[1:]
    data = bytes.fromhex(data_hex)
    marker_fd = os.open(os.devnull, os.O_WRONLY)
    os.write(marker_fd, START_MARKER)
    try:
        atomic = AtomicFile(target, mode, durability=durability)
        with atomic as file:
            file.write(data if "b" in mode else data.decode("ascii"))
            if "--hold" in flags:
                file.flush()
                print(atomic.temp_path, flush=True)
                sys.stdin.readline()
        outcome: dict[str, object] = {"ok": True}
    except OSError as error:
        outcome = {
            "ok": False,
            "type": type(error).__name__,
            "errno": error.errno,
            "message": str(error),
        }
    os.write(marker_fd, END_MARKER)
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
