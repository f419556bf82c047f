"""Workers: every one the store has seen, merged with what the online ones report live, and
the actions an operator takes on them (shutdown, pool size, autoscale, queues consumed)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from celery_ops.core.clock import as_utc, from_timestamp
from celery_ops.core.errors import Conflict, NotFound, Unavailable
from celery_ops.core.records import WorkerRecord
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.audit import FAILED, PARTIAL, Audited
from celery_ops.operations.control import Answers
from celery_ops.operations.errors import store_errors
from celery_ops.operations.requests import (
    AutoscaleRequest,
    PoolChange,
    QueueRequest,
    checked_identifier,
    parse,
)
from celery_ops.operations.services import OperationGroup, Services

#: Tasks listed per kind (running, reserved, scheduled) on a worker's page.
MAX_TASKS_SHOWN = 200


@dataclass(frozen=True)
class TaskOnWorker:
    """A task a worker holds: running, reserved (prefetched) or scheduled (ETA)."""

    task_id: str
    name: str | None
    args: str | None = None
    kwargs: str | None = None
    #: When it started running (running tasks).
    started_at: datetime | None = None
    runtime_seconds: float | None = None
    #: When it is due (scheduled tasks).
    eta: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class LiveReport:
    """What a worker said about itself just now."""

    pool: str | None
    concurrency: int | None
    processes: list[int]
    prefetch_count: int | None
    queues: list[str]
    paused_queues: list[str]
    uptime_seconds: float | None
    loadavg: list[float] | None
    #: Largest resident memory of the worker's main process, in kilobytes (rusage).
    max_rss_kb: int | None
    processed: dict[str, int]
    active: list[TaskOnWorker]
    reserved: list[TaskOnWorker]
    scheduled: list[TaskOnWorker]
    registered: list[str]
    conf: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerView:
    """A worker as the store knows it, with its live report if it answered."""

    hostname: str
    status: str
    record: WorkerRecord | None
    live: LiveReport | None

    @property
    def online(self) -> bool:
        return self.status == "online"

    def as_dict(self, detail: bool = False) -> dict[str, Any]:
        record, live = self.record, self.live
        answer: dict[str, Any] = {
            "hostname": self.hostname,
            "status": self.status,
            "answered": live is not None,
            "last_heartbeat": _iso(record.last_heartbeat if record else None),
            "started_at": _iso(record.started_at if record else None),
            "stopped_at": _iso(record.stopped_at if record else None),
            "pid": record.pid if record else None,
            "pool": (record.pool if record else None) or (live.pool if live else None),
            "concurrency": (live.concurrency if live else None)
            or (record.concurrency if record else None),
            "queues": live.queues if live else list(record.queues if record else ()),
            "paused_queues": live.paused_queues if live else [],
            "tasks_processed": sum(live.processed.values())
            if live
            else (record.tasks_processed if record else 0),
            "running": len(live.active) if live else None,
            "reserved": len(live.reserved) if live else None,
            "scheduled": len(live.scheduled) if live else None,
            "loadavg": live.loadavg if live else None,
            "max_rss_kb": live.max_rss_kb if live else None,
            "uptime_seconds": live.uptime_seconds if live else None,
            "versions": record.versions if record else {},
        }
        if detail:
            answer.update(
                processes=live.processes if live else [],
                prefetch_count=live.prefetch_count if live else None,
                processed=live.processed if live else {},
                active_tasks=[_task_json(t) for t in live.active] if live else [],
                reserved_tasks=[_task_json(t) for t in live.reserved] if live else [],
                scheduled_tasks=[_task_json(t) for t in live.scheduled] if live else [],
                registered=live.registered if live else [],
                conf=live.conf if live else {},
                report_errors=live.errors if live else {},
                events_dropped=record.events_dropped if record else 0,
            )
        return answer


def checked_hostname(hostname: Any) -> str:
    """A worker's node name as given in a path or a form."""
    return checked_identifier(hostname, "a worker name")


class WorkerOperations(OperationGroup):
    # Reading (viewer)

    def all(self, live: bool = True) -> list[WorkerView]:
        """Every worker the store has seen (offline ones for ``ops_offline_workers_shown``),
        online first, each with its live report when ``live`` and it answered in time."""
        self._require(VIEWER)
        with store_errors():
            records = self._services.store.workers()
        shown_since = self._services.clock.now() - timedelta(
            seconds=self._services.config.offline_workers_shown
        )
        records = [r for r in records if r.online or _last_seen(r) >= shown_since]
        online = [r.hostname for r in records if r.online]
        # Addressed by name: workers of other apps on the same broker do not answer.
        reports = self._reports(online) if live and online else {}
        views = [self._view(r.hostname, r, reports.get(r.hostname)) for r in records]
        return sorted(views, key=lambda view: (not view.online, view.hostname))

    def get(self, hostname: str) -> WorkerView:
        self._require(VIEWER)
        checked_hostname(hostname)
        with store_errors():
            record = self._services.store.worker(hostname)
        if record is None:
            raise NotFound(f"no worker named {hostname!r}")
        reports = self._reports([hostname]) if record.online else {}
        return self._view(hostname, record, reports.get(hostname))

    # Acting (operator)

    def forget(self, hostname: str) -> None:
        """Remove an offline worker from the store (it reappears if it starts again)."""
        with self._operation("worker-forget", {"worker": hostname}, OPERATOR) as audited:
            checked_hostname(hostname)
            with store_errors():
                record = self._services.store.worker(hostname)
            if record is None:
                raise NotFound(f"no worker named {hostname!r}")
            if record.online:
                raise Conflict(f"{hostname} is online: shut it down before forgetting it")
            with store_errors():
                audited.commit(lambda entry: self._services.store.forget_worker(hostname, entry))

    def shutdown(self, hostname: str) -> Answers:
        """Warm shutdown: the worker finishes its running tasks, then exits."""
        with self._operation("worker-shutdown", {"worker": hostname}, OPERATOR) as audited:
            self._online(hostname)
            return reported(audited, self._services.control.shutdown(hostname))

    def resize_pool(self, hostname: str, change: Mapping[str, Any]) -> Answers:
        """``{"grow": n}`` or ``{"shrink": n}`` processes."""
        targets = {"worker": hostname, **{k: change.get(k) for k in ("grow", "shrink")}}
        with self._operation("worker-pool", targets, OPERATOR) as audited:
            by = parse(PoolChange, change).by()
            self._online(hostname)
            command = "pool_grow" if by > 0 else "pool_shrink"
            answers = self._services.control.command(command, {"n": abs(by)}, [hostname])
            return reported(audited, answers)

    def autoscale(self, hostname: str, limits: Mapping[str, Any]) -> Answers:
        """Let the pool scale between ``min`` and ``max`` processes (``celery worker
        --autoscale``); the worker must have been started with an autoscaler."""
        targets = {"worker": hostname, "max": limits.get("max"), "min": limits.get("min")}
        with self._operation("worker-autoscale", targets, OPERATOR) as audited:
            wanted = parse(AutoscaleRequest, limits).checked()
            self._online(hostname)
            arguments = {"max": wanted.max, "min": wanted.min}
            answers = self._services.control.command("autoscale", arguments, [hostname])
            return reported(audited, answers)

    def consume(self, hostname: str, request: Mapping[str, Any]) -> Answers:
        """Start consuming ``{"queue": q}``; a paused queue must be resumed first."""
        with self._operation("worker-consume", _queue_targets(hostname, request), OPERATOR) as a:
            queue = parse(QueueRequest, request).queue
            self._online(hostname)
            with store_errors():
                paused = {p.name: p for p in self._services.store.queues.pauses()}
            if queue in paused:
                raise Conflict(
                    f"queue {queue} is paused (by {paused[queue].paused_by}): resume it first"
                )
            answers = self._services.control.command("add_consumer", {"queue": queue}, [hostname])
            return reported(a, answers)

    def cancel_consume(self, hostname: str, request: Mapping[str, Any]) -> Answers:
        """Stop consuming ``{"queue": q}`` (until told to consume it, or restarted)."""
        targets = _queue_targets(hostname, request)
        with self._operation("worker-cancel-consume", targets, OPERATOR) as audited:
            queue = parse(QueueRequest, request).queue
            self._online(hostname)
            answers = self._services.control.command(
                "cancel_consumer", {"queue": queue}, [hostname]
            )
            return reported(audited, answers)

    # Building the views

    def _online(self, hostname: str) -> None:
        """NotFound unless the store has a recent heartbeat of ``hostname`` (so a mistyped
        name fails at once, not after the broadcast's timeout)."""
        checked_hostname(hostname)
        if hostname not in online_workers(self._services):
            raise NotFound(
                f"no online worker named {hostname!r} (none with a recent heartbeat): "
                "see `celery -A proj ops workers list`"
            )

    def _reports(self, destination: list[str]) -> dict[str, dict[str, Any]]:
        try:
            return self._services.control.reports(destination)
        except Unavailable:  # the broker is down: the store's view is still worth showing
            return {}

    def _view(
        self, hostname: str, record: WorkerRecord | None, report: dict[str, Any] | None
    ) -> WorkerView:
        live = _live(report, self._services.clock.timestamp()) if report is not None else None
        online = live is not None or (record is not None and record.online)
        return WorkerView(hostname, "online" if online else "offline", record, live)


def online_workers(services: Services) -> list[str]:
    """The hostnames of the workers with a recent heartbeat."""
    with store_errors():
        return [worker.hostname for worker in services.store.workers() if worker.online]


def reported(audited: Audited, answers: Answers) -> Answers:
    """Put what the workers answered in the audit row; no answer, or only refusals, is a
    failure the caller hears about."""
    audited.targets["replies"] = answers.replies
    if answers.silent:
        audited.targets["no_reply"] = answers.silent
    if not answers.replies:
        audited.outcome, audited.detail = FAILED, "no worker answered"
        raise NotFound(f"no answer from {', '.join(answers.silent) or 'any worker'}")
    if answers.refused:
        refusals = "; ".join(
            f"{host}: {answers.replies[host]['error']}" for host in answers.refused
        )
        audited.outcome = PARTIAL if answers.accepted else FAILED
        audited.detail = refusals
        if not answers.accepted:
            raise Conflict(refusals)
    return answers


def _queue_targets(hostname: str, request: Mapping[str, Any]) -> dict[str, Any]:
    queue = request.get("queue") if isinstance(request, Mapping) else None
    return {"worker": hostname, "queue": queue}


def _last_seen(record: WorkerRecord) -> datetime:
    moments = [m for m in (record.last_heartbeat, record.stopped_at) if m is not None]
    return as_utc(max(moments)) if moments else datetime.min.replace(tzinfo=timezone.utc)


def _live(report: dict[str, Any], now: float) -> LiveReport:
    stats = report.get("stats") or {}
    pool = stats.get("pool") or {}
    processes = [p for p in pool.get("processes") or () if isinstance(p, int)]
    rusage = stats.get("rusage") or {}
    totals = stats.get("total") or {}
    return LiveReport(
        pool=_pool_kind(report.get("conf") or {}, pool),
        concurrency=_int(pool.get("max-concurrency")),
        processes=processes,
        prefetch_count=_int(stats.get("prefetch_count")),
        queues=_queue_names(report.get("active_queues")),
        paused_queues=[str(q) for q in report.get("paused") or ()],
        uptime_seconds=_float(stats.get("uptime")),
        loadavg=report.get("loadavg"),
        max_rss_kb=_int(rusage.get("maxrss")),
        processed={str(k): int(v) for k, v in totals.items() if isinstance(v, int)},
        active=[_task(info, now) for info in (report.get("active") or ())[:MAX_TASKS_SHOWN]],
        reserved=[_task(info, now) for info in (report.get("reserved") or ())[:MAX_TASKS_SHOWN]],
        scheduled=[
            _scheduled(entry) for entry in (report.get("scheduled") or ())[:MAX_TASKS_SHOWN]
        ],
        registered=sorted(str(name).split(" ", 1)[0] for name in report.get("registered") or ()),
        conf=report.get("conf") or {},
        errors=dict(report.get("errors") or {}),
    )


def _pool_kind(conf: dict[str, Any], pool: dict[str, Any]) -> str | None:
    name = conf.get("worker_pool")
    if isinstance(name, str) and name:
        return name.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    return "prefork" if pool.get("processes") else None


def _task(info: Any, now: float) -> TaskOnWorker:
    info = info if isinstance(info, dict) else {}
    started = _float(info.get("time_start"))
    return TaskOnWorker(
        task_id=str(info.get("id")),
        name=info.get("name") or info.get("type"),
        args=_preview(info.get("args")),
        kwargs=_preview(info.get("kwargs")),
        started_at=from_timestamp(started) if started else None,
        runtime_seconds=max(0.0, now - started) if started else None,
        pid=_int(info.get("worker_pid")),
    )


def _scheduled(entry: Any) -> TaskOnWorker:
    entry = entry if isinstance(entry, dict) else {}
    task = _task(entry.get("request"), time.time())
    return TaskOnWorker(task.task_id, task.name, task.args, task.kwargs, eta=entry.get("eta"))


def _queue_names(active_queues: Any) -> list[str]:
    return sorted(str(q.get("name")) for q in active_queues or () if isinstance(q, dict))


def _preview(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _task_json(task: TaskOnWorker) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "name": task.name,
        "args": task.args,
        "kwargs": task.kwargs,
        "started_at": _iso(task.started_at),
        "runtime_seconds": task.runtime_seconds,
        "eta": task.eta,
        "pid": task.pid,
    }
