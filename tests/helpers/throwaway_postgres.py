"""A PostgreSQL server of the test's own, on its own port, that a test may stop and restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers.services import IN_CI, reachable


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if not found:
        message = f"{name} not found: install Debian's postgresql package for the outage tests"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return str(found)


class ThrowawayPostgres:
    def __init__(self, port: int) -> None:
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        directory = Path(tempfile.mkdtemp(prefix="celery-ops-pg-"))
        self.directory = directory
        self.port = port
        self.data = directory / "data"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
            shutil.chown(directory, "postgres")
        self._run(
            _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_postgres, *command], check=True, capture_output=True, cwd="/tmp")

    def start(self, max_connections: int = 100) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections={max_connections}"
        )
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "start",
        )
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise AssertionError("the throwaway PostgreSQL did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        if reachable("127.0.0.1", self.port):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
