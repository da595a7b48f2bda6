"""A record, per user and per boot, that the bubblewrap probe passed, so that each new process (every
`python -m task_lib grade`) need not run bubblewrap once more before its real child (about 15 ms).

Only success is recorded, in a directory of this user's alone (mode 0700, checked on every use):
another user can neither plant a record nor learn anything from one. A record names what the probe
depended on (the boot, the user, the sandbox's programs and the code that builds the sandbox's command
line), so any change to those misses it. If bubblewrap stops working within a boot after all (user
namespaces switched off, say), the first child that fails in bubblewrap's own set-up forgets the record
(`forget`), so the next process probes again; docs/sandbox.md says what that one child reports.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path

SOURCES = ("bubblewrap.py", "seccomp_filter.py", "run.py")  # the code that builds the probe's command


def _directory() -> Path | None:
    """This user's private directory for the record (created 0700), or None if it is not private."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"  # per boot, not a process's own TMPDIR
    path = Path(base) / f"task_lib-{os.geteuid()}"
    with contextlib.suppress(FileExistsError, OSError):
        path.mkdir(mode=0o700)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    mode = info.st_mode
    private = stat.S_ISDIR(mode) and info.st_uid == os.geteuid() and stat.S_IMODE(mode) == 0o700
    return path if private else None


def _record(programs: tuple[str, ...]) -> Path | None:
    """The record's path for this boot, user, programs (as found on PATH) and sandbox code."""
    directory = _directory()
    if directory is None:
        return None
    digest = hashlib.sha256()
    try:
        digest.update(Path("/proc/sys/kernel/random/boot_id").read_bytes())
        for name in programs:
            found = shutil.which(name)
            if found is None:
                return None
            info = os.stat(found)
            digest.update(f"{name}\0{found}\0{info.st_ino}\0{info.st_mtime_ns}\0{info.st_size}\0".encode())
        here = Path(__file__).parent
        for source in SOURCES:
            digest.update((here / source).read_bytes())
    except OSError:
        return None
    digest.update(f"{os.geteuid()}\0{os.getegid()}".encode())
    return directory / f"bubblewrap-works-{digest.hexdigest()[:32]}"


def remembered(programs: tuple[str, ...]) -> bool:
    """True when the probe passed before in this boot, for this user, these programs and this code."""
    record = _record(programs)
    return record is not None and record.is_file()


def remember(programs: tuple[str, ...]) -> None:
    """Record that the probe passed (quietly nothing if the directory is not private)."""
    record = _record(programs)
    if record is not None:
        with contextlib.suppress(OSError):
            record.touch(mode=0o600)


def forget() -> None:
    """Remove every record of this user: bubblewrap failed after all."""
    directory = _directory()
    if directory is not None:
        for record in directory.glob("bubblewrap-works-*"):
            with contextlib.suppress(OSError):
                record.unlink()
