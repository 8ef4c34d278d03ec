"""A writer killed with SIGKILL at random moments leaves the old or the new content."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import temp_files

SIZE = 256 * 1024

# The writer alternates between two complete versions, in several write()
# calls each, so a torn file would mix them or stop short.
WRITER = """
import sys
from atomicopen import atomic_open
path, size, durability = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
version = 0
while True:
    letter = b"AB"[version % 2 : version % 2 + 1]
    with atomic_open(path, "wb", durability=durability) as file:
        for _ in range(16):
            file.write(letter * (size // 16))
    version += 1
"""


@pytest.mark.parametrize("durability", ["full", "none"])
def test_sigkill_leaves_old_or_new(tmp_path: Path, durability: str) -> None:
    target = tmp_path / "target.bin"
    target.write_bytes(b"A" * SIZE)
    complete = {b"A" * SIZE, b"B" * SIZE}
    generator = random.Random(20261204)
    for _ in range(15):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(SIZE), durability],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == b"ready\n"
        time.sleep(generator.uniform(0.0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        assert target.read_bytes() in complete
    # A killed writer may leave its temporary file; nothing else appears.
    leftovers = set(os.listdir(tmp_path)) - {"target.bin"}
    assert leftovers == set(temp_files(tmp_path))
