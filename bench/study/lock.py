"""One writer per results folder: an exclusive lock on OUT held for the whole run.

The lock is ``fcntl.flock`` on ``OUT/.lossbench.lock``: the kernel releases it when its process
ends, however it ends, so a lock left by a killed run never blocks the next one. The file holds
the holder's pid, start time and command, for the message a second run prints.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from pathlib import Path

LOCK_NAME = ".lossbench.lock"


class LockedError(ValueError):
    """Another process holds the folder; the one-line message names it."""


class OutLock:
    """``with OutLock(out, command):`` holds OUT exclusively, or raises LockedError at once."""

    def __init__(self, out: Path, command: str = ""):
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> OutLock:
        self.out.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip().split("\n")
            os.close(fd)
            pid, started = (holder + ["?", "?"])[:2]
            raise LockedError(
                f"another run (pid {pid}, started {started}) is writing to {self.out}: "
                "wait for it, or use another --out"
            ) from None
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{started}\n{self.command}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
