"""Real `celery worker` processes, started in their own process group and always cleaned up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CeleryProcess:
    """A `celery` sub-command run in its own process group, logging to a file."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], name: str) -> None:
        self.name = name
        self._terminated = False
        self.log_path = cwd / f"{name.replace('@', '_')}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"{self.name} did not start:\n{self.log()[-4000:]}")

    def terminate(self) -> None:
        """Ask for a warm shutdown (SIGTERM to the group, once) without waiting for it."""
        if self.process.poll() is None and not self._terminated:
            self._terminated = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown, as an operator would; SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def kill(self) -> None:
        """SIGKILL to the whole group: no signal handler, no flush, nothing runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()


class WorkerProcess(CeleryProcess):
    def __init__(
        self,
        app: str,
        cwd: Path,
        env: dict[str, str],
        hostname: str,
        pool: str = "prefork",
        concurrency: int = 2,
        queues: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.hostname = hostname
        command = [
            CELERY,
            "-A",
            app,
            "worker",
            "-P",
            pool,
            "-c",
            str(concurrency),
            "-n",
            hostname,
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            *extra,
        ]
        if queues:
            command += ["-Q", queues]
        super().__init__(command, cwd, env, hostname)

    def wait_ready(self, timeout: float = 30.0) -> WorkerProcess:
        self.wait_for_log(f"{self.hostname} ready.", timeout)
        return self


class BeatProcess(CeleryProcess):
    """`celery beat` with celery-ops's DatabaseScheduler."""

    def __init__(self, app: str, cwd: Path, env: dict[str, str], name: str) -> None:
        command = [
            CELERY,
            "-A",
            app,
            "beat",
            "-S",
            "celery_ops.beat:DatabaseScheduler",
            "-l",
            "INFO",
        ]
        super().__init__(command, cwd, env, name)

    def wait_started(self, timeout: float = 30.0) -> BeatProcess:
        self.wait_for_log("beat: Starting...", timeout)
        return self
