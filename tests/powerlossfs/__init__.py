"""Power-loss file system: a FUSE mount that loses what was never made durable.

The file system serves an in-memory volume loaded from a backing directory.
Reads see every change at once, as they would through a page cache, but each
change stays *pending* until its durability point:

* ``fsync`` or ``fdatasync`` of a file makes that file's data, size, mode and
  owner durable. Both calls are modelled the same way.
* ``fsync`` of a directory makes that directory's entries (create, mkdir,
  link, symlink, unlink, rmdir, and each side of a rename) and its own mode
  and owner durable.

A file ``fsync`` does not make the file's own directory entry durable. This
is the minimum that POSIX and Linux promise. ext4 gives more in practice,
because one journal commit writes every earlier metadata change, so this
model is stricter than ext4 and catches a missing directory ``fsync`` that
ext4 would usually hide. Each directory is synced on its own, so a crash can
keep one side of a rename between two directories and lose the other.

A simulated power loss writes the surviving *image* into the backing
directory, then serves that image, as a machine rebooting onto the same disk
would. Two crash models decide what survives:

``drop-all``
    Every pending change is lost: the image is the state as of the last
    durability point of each inode.
``metadata-first``
    Namespace changes and inode metadata (mode, owner, explicit truncation)
    survive, file data written since the file's last ``fsync`` is lost. A file
    renamed into place without an ``fsync`` is then empty, the failure that
    delayed allocation on ext4 made familiar.

Timestamps are not modelled: they change at once and survive every crash. A
clean unmount writes the whole volatile state to the backing directory, as
``umount`` does after ``sync``.

Crashes are driven through the control file ``/.powerlossfs`` at the root of
the mount (hidden from ``readdir``). Write one command per line:

``crash MODEL``
    Lose power now and reboot onto the image.
``arm KIND N MODEL [before|after]``
    Crash when the Nth operation of KIND arrives, counting from this command
    (KIND is one of :data:`OPERATION_KINDS`). ``before``, the default, fails
    that operation with EIO before it takes effect; ``after`` lets it succeed
    first. The file system then freezes: every operation fails with EIO until
    ``thaw``, so a writer can do no more harm after the power loss.
``thaw``, ``disarm``, ``sync``
    End the freeze, cancel an armed crash, make everything durable.

Reading the control file returns a JSON status: crash count, frozen flag,
armed trigger and operation counts since the last ``arm``.

From Python, :class:`PowerLossMount` starts the server in a child process and
wraps these commands::

    with PowerLossMount(backing, mountpoint) as fs:
        fs.arm("rename", 1, "drop-all")
        subprocess.run([sys.executable, "writer.py", str(mountpoint)])
        fs.thaw()
    # backing now holds the disk image after the crash

By hand, as root, with the Debian package ``fuse3`` and mfusepy installed::

    python -m tests.powerlossfs BACKING MOUNTPOINT &
    echo "crash drop-all" > MOUNTPOINT/.powerlossfs
    fusermount3 -u MOUNTPOINT

Known limits: ``fstat`` and ``fchmod`` on an open file that was already
unlinked fail with ESTALE, because libfuse's path-based interface has no path
for it. Every file is opened with ``direct_io``, so a shared writable
``mmap`` fails with ENODEV (a private read-only one works, on Linux 6.18).
Only regular files, directories and symbolic links exist.
"""

from ._model import CrashModel, Volume
from ._mount import PowerLossMount, missing_requirements
from ._protocol import CONTROL_NAME, OPERATION_KINDS

__all__ = [
    "CONTROL_NAME",
    "OPERATION_KINDS",
    "CrashModel",
    "PowerLossMount",
    "Volume",
    "missing_requirements",
]
