"""The relay's last resort: batches kept on the local disk while the broker is unreachable.

Each process appends to a file of its own, ``<host>-<pid>-<random>.spill``, one encoded batch
per line (the encoding is JSON: no raw newline), flushed and fsynced before :meth:`write`
returns, and holds an exclusive ``flock`` on it while it lives. Any process of the host may
hand over a file nobody holds (its writer exited, or was killed): it takes the lock, appends
the batches to the stream, and deletes the file. A hand-over cut short appends some batches
twice; the store writes each batch once (by its id), so nothing is doubled.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

SUFFIX = ".spill"
#: Batches handed to the stream per append.
HAND_OVER_CHUNK = 100


def default_spill_dir() -> Path:
    return Path(tempfile.gettempdir()) / "celery-ops-spill"


class SpillDirectory:
    """The spill files of one directory, and this process's own."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else default_spill_dir()
        self._file: IO[bytes] | None = None
        self._pid = os.getpid()

    def write(self, payloads: list[bytes]) -> None:
        """Append ``payloads`` to this process's file, durably; raises OSError if it cannot."""
        spill = self._own_file()
        for payload in payloads:
            spill.write(payload + b"\n")  # JSON text: no raw newline inside
        spill.flush()
        os.fsync(spill.fileno())

    def count_waiting(self) -> int:
        """How many spill files lie in the directory."""
        try:
            return sum(1 for _ in self.path.glob(f"*{SUFFIX}"))
        except OSError:
            return 0

    def has_waiting(self) -> bool:
        """Whether any spill file lies in the directory (this process's or another's)."""
        try:
            return any(self.path.glob(f"*{SUFFIX}"))
        except OSError:
            return False

    def hand_over(self, append: Callable[[list[bytes]], None]) -> int:
        """Append every batch of the files nobody holds (this process's included) with
        ``append``, deleting each file once all of it went; the number of batches moved.
        An error of ``append`` stops the hand-over, the file kept."""
        self.close()  # this process's own file: handed over like the others
        moved = 0
        for candidate in sorted(self.path.glob(f"*{SUFFIX}")):
            moved += self._hand_over_file(candidate, append)
        return moved

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock: another process may hand it over
            self._file = None

    def _own_file(self) -> IO[bytes]:
        if self._file is not None and self._pid == os.getpid():
            return self._file
        if self._file is not None:
            # A forked child: the parent's file stays the parent's (closing our copy of the
            # descriptor leaves the parent's lock in place).
            self._file.close()
        self._file, self._pid = None, os.getpid()
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        spill = open(self.path / name, "ab")  # noqa: SIM115 (held open: the lock lives with it)
        fcntl.flock(spill, fcntl.LOCK_EX)
        self._file = spill
        return spill

    def _hand_over_file(self, path: Path, append: Callable[[list[bytes]], None]) -> int:
        try:
            spill = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return 0  # another process handed it over first
        with spill:
            try:
                fcntl.flock(spill, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its writer is alive
            if not path.exists():
                return 0  # handed over and deleted between our open and our lock
            lines = [line.rstrip(b"\n") for line in spill if line.strip()]
            for start in range(0, len(lines), HAND_OVER_CHUNK):
                append(lines[start : start + HAND_OVER_CHUNK])
            path.unlink()
            return len(lines)
