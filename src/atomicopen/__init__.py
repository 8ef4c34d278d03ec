"""Crash-safe atomic file writes.

``with atomic_open(path) as f:`` writes to a temporary file in the target's
directory and, on a clean exit, syncs it and renames it over ``path``. Readers
see the old content or the new, never a torn file.
"""

from __future__ import annotations

from . import hooks
from ._api import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text
from ._backups import restore_backup
from ._checksum import verify
from ._cleanup import remove_stale_temp_files
from ._core import AtomicFile
from ._errors import (
    AtomicOpenError,
    DirectorySyncUnsupportedError,
    DirectorySyncWarning,
    HardLinkError,
    InvalidJSONError,
    LockTimeout,
    PostCommitError,
    ValidationError,
)
from ._group import AtomicGroup, GroupCommitError
from ._update import update_json, update_text

__version__ = "0.1.0"

__all__ = [
    "AtomicFile",
    "AtomicGroup",
    "AtomicOpenError",
    "DirectorySyncUnsupportedError",
    "DirectorySyncWarning",
    "GroupCommitError",
    "HardLinkError",
    "InvalidJSONError",
    "LockTimeout",
    "PostCommitError",
    "ValidationError",
    "__version__",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "hooks",
    "remove_stale_temp_files",
    "restore_backup",
    "update_json",
    "update_text",
    "verify",
]
