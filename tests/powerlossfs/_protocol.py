"""Names shared by the server and the client: the control file and operation kinds."""

from __future__ import annotations

__all__ = ["CONTROL_NAME", "OPERATION_KINDS"]

#: Name of the control file at the root of the mount. ``readdir`` does not list
#: it, and it is not part of the volume, so a crash never touches it.
CONTROL_NAME = ".powerlossfs"

#: Operation kinds that the server counts and that the ``arm`` command accepts.
#: ``fsync`` covers fdatasync too, and ``truncate`` covers ``open(O_TRUNC)``.
OPERATION_KINDS = frozenset(
    {
        "chmod",
        "chown",
        "create",
        "fsync",
        "fsyncdir",
        "link",
        "mkdir",
        "rename",
        "rmdir",
        "symlink",
        "truncate",
        "unlink",
        "write",
    }
)
