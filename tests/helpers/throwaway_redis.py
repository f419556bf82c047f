"""A Redis server of the test's own, on its own port, that a test may stop and restart.

It keeps its data in an append-only file, as a production broker does, so that what it held
is still there after a restart.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from helpers.services import reachable


class ThrowawayRedis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="celery-ops-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise AssertionError("the throwaway Redis did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut down as an operator would (the append-only file is flushed first)."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.wait(30)
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
