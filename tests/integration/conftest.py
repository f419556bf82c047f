"""An app written outside the repository, and real workers running it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers.services import REDIS_BROKER, require
from helpers.workers import CELERY, BeatProcess, CeleryProcess, WorkerProcess, free_port

from celery_ops import get_ops

# What a user writes: an ordinary Celery app plus one line for celery-ops.
EXTERNAL_APP = """
import json
import os
import subprocess
import time

from celery import Celery
from celery.exceptions import Ignore

import celery_ops

# A result backend only when a test asks for one (a chord needs one).
app = Celery("extapp", broker=os.environ["BROKER_URL"], backend=os.environ.get("RESULT_BACKEND"))
app.conf.task_default_queue = os.environ["QUEUE"]
app.conf.broker_connection_retry_on_startup = True
if os.environ.get("MAX_PRIORITY"):
    # RabbitMQ: queues declared as priority queues; Redis: one list per priority.
    app.conf.task_queue_max_priority = int(os.environ["MAX_PRIORITY"])
    app.conf.broker_transport_options = {"queue_order_strategy": "priority"}
celery_ops.init_app(
    app,
    database_url=os.environ["OPS_URL"],
    flush_interval=0.1,
    heartbeat_interval=0.5,
    reaper_interval=0.5,
    worker_timeout=float(os.environ.get("OPS_WORKER_TIMEOUT", "3")),
    beat_claim_timeout=float(os.environ.get("OPS_CLAIM_TIMEOUT", "30")),
    stuck_minimum=float(os.environ.get("OPS_STUCK_MINIMUM", "60")),
    metrics_token=os.environ.get("OPS_METRICS_TOKEN"),
    alerts=json.loads(os.environ.get("OPS_ALERTS", "[]")),
    alerts_interval=float(os.environ.get("OPS_ALERTS_INTERVAL", "10")),
    rate_limits=json.loads(os.environ.get("OPS_RATE_LIMITS", "{}")),
    concurrency_limits=json.loads(os.environ.get("OPS_CONCURRENCY_LIMITS", "{}")),
)


@app.task
def add(x, y):
    return x + y


@app.task(autoretry_for=(KeyError,), max_retries=2, default_retry_delay=0)
def always_fails(key):
    raise KeyError(key)


@app.task
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


@app.task
def size_of(blob):
    return len(blob)


@app.task
def not_json():
    return object()


@app.task
def echo(*args, **kwargs):
    return [args, kwargs]


@app.task
def ignores():
    raise Ignore()


@app.task(bind=True)
def doubles_by_replacing_itself(self, x):
    raise self.replace(add.si(x, x))


@app.task(soft_time_limit=1)
def outlives_soft_limit(seconds):
    from celery.exceptions import SoftTimeLimitExceeded

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            time.sleep(max(0.0, deadline - time.time()))
        except SoftTimeLimitExceeded:
            pass  # caught, and it keeps going: stuck past its time limit
    return seconds


@app.task(acks_late=True, reject_on_worker_lost=True)
def sleepy_acks_late(seconds):
    time.sleep(seconds)
    return seconds


@app.task
def counts_to(total, seconds):
    # Reports every step, many times a second: celery-ops keeps about one a second.
    for done in range(total + 1):
        celery_ops.report_progress(done, total, note=f"step {done}")
        time.sleep(seconds / max(total, 1))
    return total


@app.task
def explodes(x):
    raise ValueError(f"member {x} failed")


@app.task
def total(values):
    return sum(values)


@app.task
def starts_a_chord():
    from celery import chord

    chord([add.s(1, 1), explodes.s(2), add.s(3, 3)])(total.s())
    return "sent"


@app.task(bind=True, autoretry_for=(KeyError,), max_retries=2, default_retry_delay=0)
def batch_member(self, n, fails=0, adds=0):
    # Fails its first `fails` attempts (3 or more: for good, after its two retries).
    if self.request.retries < fails:
        raise KeyError(f"member {n}, attempt {self.request.retries + 1}")
    if adds:
        celery_ops.current_batch().add([batch_member.s(1000 + n + i) for i in range(adds)])
    return n


@app.task
def batch_callback(kind, name):
    return [kind, name]


@app.task
def limited_tick(n):
    return n


@app.task
def limited_slow(n, seconds, tenant_id="t1"):
    time.sleep(seconds)
    return n


@app.task(ops_unique_for=60, ops_unique_key=["report_id"])
def rebuild_report(report_id, seconds=0.5):
    # "Rebuild report 42" must not be queued while one is waiting or running.
    time.sleep(seconds)
    return report_id


@app.task(ops_unique_for=float(os.environ.get("OPS_UNIQUE_FOR", "4")), ops_unique_until="started")
def unique_until_started(key, seconds):
    time.sleep(seconds)
    return key


@app.task(bind=True)
def counts_with_update_state(self, total, seconds):
    # Celery's own convention; this app has no result backend.
    for done in range(total + 1):
        self.update_state(state="PROGRESS", meta={"current": done, "total": total})
        time.sleep(seconds / max(total, 1))
    return total
"""


class ExternalApp:
    """The external app, loaded in this process (the producer) and run by real workers."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.workers: list[WorkerProcess] = []
        self.beats: list[BeatProcess] = []
        self.dashboards: list[CeleryProcess] = []
        # Named like the worker imports it, so that task names match on both sides.
        spec = importlib.util.spec_from_file_location("extapp", directory / "extapp.py")
        assert spec and spec.loader
        module: ModuleType = importlib.util.module_from_spec(spec)
        previous = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            spec.loader.exec_module(module)
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.module = module
        self.app = module.app
        self.ops = get_ops(self.app)

    def start_worker(self, name: str, **options: Any) -> WorkerProcess:
        return self._launch_worker(name, **options).wait_ready()

    def start_workers(self, names: list[str], **options: Any) -> list[WorkerProcess]:
        """Start workers side by side (a second each, not one after the other). The schema
        is made first, so that they do not all race to create it."""
        self.ops.store.ensure_schema()
        launched = [self._launch_worker(name, **options) for name in names]
        return [worker.wait_ready() for worker in launched]

    def _launch_worker(self, name: str, **options: Any) -> WorkerProcess:
        hostname = f"{name}@{uuid.uuid4().hex[:6]}"
        worker = WorkerProcess("extapp", self.directory, self.env, hostname, **options)
        self.workers.append(worker)
        return worker

    def start_beat(self, name: str = "beat") -> BeatProcess:
        beat = BeatProcess("extapp", self.directory, self.env, f"{name}-{uuid.uuid4().hex[:6]}")
        self.beats.append(beat)
        return beat.wait_started()

    def start_dashboard(self) -> str:
        """`celery -A extapp ops dashboard` on a free port, as a user runs it; its address."""
        port = free_port()
        dashboard = CeleryProcess(
            [CELERY, "-A", "extapp", "ops", "dashboard", "--port", str(port)],
            self.directory,
            {**self.env, "CELERY_OPS_SECRET_KEY": uuid.uuid4().hex},
            f"dashboard-{port}",
        )
        self.dashboards.append(dashboard)
        dashboard.wait_for_log(f"celery-ops dashboard on http://127.0.0.1:{port}/", timeout=30)
        return f"http://127.0.0.1:{port}"

    def start_mcp_http(self, *options: str) -> str:
        """`celery -A extapp ops mcp --http` on a free port; the MCP endpoint's address."""
        port = free_port()
        server = CeleryProcess(
            [CELERY, "-A", "extapp", "ops", "mcp", "--http", "--port", str(port), *options],
            self.directory,
            self.env,
            f"mcp-{port}",
        )
        self.dashboards.append(server)
        server.wait_for_log(f"on http://127.0.0.1:{port}/mcp", timeout=30)
        return f"http://127.0.0.1:{port}/mcp"

    def ops_cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """`celery -A extapp ops ARGS`, as a user types it."""
        return subprocess.run(
            [CELERY, "-A", "extapp", "ops", *args],
            cwd=self.directory,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )

    def close(self) -> None:
        processes = [*self.dashboards, *self.beats, *self.workers]
        # All asked at once, then waited for: their warm shutdowns overlap.
        for process in processes:
            process.terminate()
        for process in processes:
            process.stop()
        self.ops.recorder.close(timeout=5)
        self.app.close()
        self.ops.store.dispose()


@pytest.fixture
def external_app(
    tmp_path: Path, new_database: Callable[[str], str]
) -> Iterator[Callable[..., ExternalApp]]:
    """Build the external app against a broker and a store; stops its workers afterwards.

    Depends on ``new_database`` so that databases are dropped only after workers stopped.
    """
    created: list[ExternalApp] = []
    (tmp_path / "extapp.py").write_text(EXTERNAL_APP)

    def build(broker: str, ops_url: str, **env: str) -> ExternalApp:
        variables = {
            "BROKER_URL": broker,
            "OPS_URL": ops_url,
            "QUEUE": f"q-{uuid.uuid4().hex[:8]}",
            **env,
        }
        app = ExternalApp(tmp_path, variables)
        created.append(app)
        return app

    yield build
    for app in created:
        app.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def three_workers(
    request: pytest.FixtureRequest,
    external_app: Callable[..., ExternalApp],
    new_database: Callable[[str], str],
) -> ExternalApp:
    """The external app run by three workers of four prefork processes on Redis, its store
    on PostgreSQL, then on SQLite (how flow control is accepted)."""
    require("redis")
    external = external_app(REDIS_BROKER, new_database(request.param))
    external.start_workers([f"worker-{n}" for n in range(3)], pool="prefork", concurrency=4)
    return external
