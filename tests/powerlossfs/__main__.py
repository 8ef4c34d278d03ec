"""Run the power-loss file system in the foreground: ``python -m tests.powerlossfs``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until the mount is unmounted."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.powerlossfs",
        description="Mount a file system that simulates power loss over BACKING.",
    )
    parser.add_argument("backing", type=Path, help="directory that acts as the disk")
    parser.add_argument("mountpoint", type=Path, help="empty directory to mount on")
    parser.add_argument(
        "--debug", action="store_true", help="log every FUSE request (libfuse -d)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    serve(args.backing.resolve(), args.mountpoint.resolve(), debug=args.debug)


if __name__ == "__main__":
    main()
