"""Files that appear whole or not at all, with the permissions the umask asks for.

A reader (another process, another node on a shared file system) must never see half a record or
half a checkpoint. Each file is written to a temporary name in the same directory, flushed to
disk, then linked (records: never replacing an existing one) or renamed (checkpoints: replacing
the previous one) to its final name. The temporary file is created with mode 0666 filtered by the
process's umask, like any file the user creates: 0644 under the usual 022, group-writable under
002 in a shared SLURM or CI directory (`tempfile.mkstemp` would force 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, replace: bool) -> None:
    """Write `data` to `path` in one step.

    With `replace=False` an existing file is never overwritten (`FileExistsError`): two writers
    racing for one name cannot overwrite each other. With `replace=True` the new file replaces
    the old one atomically.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_writable(directory: Path) -> None:
    """Raise `PermissionError` (or another `OSError`) unless files can be created in `directory`.

    Creates the directory if needed and writes and removes a probe file, which is what writing a
    record will do: a read-only results directory is found before a trial trains, not after.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".write-probe-{secrets.token_hex(6)}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    probe.unlink()


class HarnessError(RuntimeError):
    """The harness itself failed (a checkpoint that cannot be read or written, a full disk, a
    results directory without write permission): never recorded as the submission's failure."""
