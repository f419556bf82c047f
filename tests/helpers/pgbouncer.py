"""A PgBouncer of the test's own in transaction mode, in front of the local PostgreSQL.

Debian's ``pgbouncer`` package (``apt-get install -y pgbouncer``; ``scripts/test.sh`` installs
it); each instance has its own configuration, port and directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers.services import IN_CI, reachable

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer:
    def __init__(self, port: int, server_port: int = 5432) -> None:
        if not Path(PGBOUNCER).exists():
            message = "pgbouncer not found: apt-get install -y pgbouncer (scripts/test.sh does)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="celery-ops-pgbouncer-"))
        (self.directory / "users.txt").write_text('"postgres" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            f"unix_socket_dir = {self.directory}\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            "default_pool_size = 4\n"
            "max_client_conn = 200\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
            f"pidfile = {self.directory / 'pgbouncer.pid'}\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        command = [PGBOUNCER, str(self.directory / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root.
            shutil.chown(self.directory, "postgres")
            for path in self.directory.iterdir():
                shutil.chown(path, "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp"
        )
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise AssertionError(f"pgbouncer did not start: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(30)
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
