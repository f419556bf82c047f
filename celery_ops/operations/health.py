"""Is the cluster healthy? Each check says ok or failing, and why, in a sentence.

Checks: the store and the broker answer; every queue that needs a worker has one online (a
queue needs one when messages wait in it or a worker consumed it in the last hour); no queue
waits past its latency threshold; no execution is stuck; no task fails at its threshold rate;
no recorder drops events. Everything is read from the store (the rollups, the workers' rows)
and one broker connection, never from a scan of the executions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import as_utc
from celery_ops.core.errors import OperationError
from celery_ops.core.lifecycle import FAILURE, LOST
from celery_ops.core.records import Execution, WorkerRecord
from celery_ops.core.rollups import COUNTED_STATES, DAY, MINUTE, RUNTIME, percentile
from celery_ops.operations.actors import VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.services import OperationGroup

OK, FAILING = "ok", "failing"
#: A queue consumed this recently still needs a worker.
CONSUMED_RECENTLY = timedelta(hours=1)
#: The period of the p95 runtime a running execution is compared with.
STUCK_BASELINE = timedelta(days=7)
#: Runtimes a task needs in that period before its p95 is trusted.
STUCK_BASELINE_MINIMUM = 20
#: Executions that must have ended in the window before a failure rate counts.
FAILURE_RATE_MINIMUM = 10
#: Running executions examined for being stuck, longest running first.
STUCK_EXAMINED = 500
#: Names shown in one check's detail.
NAMES_SHOWN = 5


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    @property
    def failing(self) -> bool:
        return self.status == FAILING

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class StuckExecution:
    execution: Execution
    running_seconds: float
    #: What it ran past, e.g. "its time limit (30s)" or "10 x its p95 runtime (0.2s)".
    past: str


@dataclass(frozen=True)
class Health:
    checks: list[Check]
    stuck: list[StuckExecution] = field(default_factory=list)

    @property
    def status(self) -> str:
        return FAILING if any(check.failing for check in self.checks) else OK

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [check.as_dict() for check in self.checks]}


class HealthOperations(OperationGroup):
    def check(self) -> Health:
        """Every check; a check that cannot read what it needs fails and says why."""
        self._require(VIEWER)
        now = self._services.clock.now()
        checks: list[Check] = []
        workers = self._guarded(checks, "store", self._store_check)
        if workers is None:
            return Health(checks)  # nothing else can be read
        queue_names = self._queues(workers, now)
        depths = self._guarded(checks, "broker", lambda: self._broker_check(queue_names))
        checks.extend(self._worker_checks(queue_names, workers, depths or {}, now))
        checks.extend(self._latency_checks(queue_names, now))
        stuck = self.stuck(now)
        checks.append(_stuck_check(stuck))
        checks.append(self._failure_rate_check(now))
        recorder = self._services.recorder_health
        checks.append(_recorder_check(workers, recorder().dropped if recorder else 0))
        return Health(checks, stuck)

    def stuck(self, now: datetime | None = None) -> list[StuckExecution]:
        """Executions running past their task's time limit, or past ``ops_stuck_factor``
        times its p95 runtime of the last week (never before ``ops_stuck_minimum``)."""
        self._require(VIEWER)
        services = self._services
        config = services.config
        now = now or services.clock.now()
        with store_errors():
            running = services.store.longest_running(STUCK_EXAMINED)
            if not running:
                return []
            oldest = [row for row in running if _running_seconds(row, now) >= config.stuck_minimum]
            if not oldest:
                return []
            limits = {
                definition.name: definition.time_limit or definition.soft_time_limit
                for definition in services.store.definitions()
            }
            # Daily rollups, of the running tasks only: a few rows per task and queue.
            names = sorted({row.task_name for row in oldest if row.task_name})
            runtimes = services.store.metrics.totals(
                DAY, now - STUCK_BASELINE, now, [RUNTIME], names
            )
        by_task: dict[str, dict[int, int]] = {}
        for (task, _queue, _measure, bucket), count in runtimes.items():
            buckets = by_task.setdefault(task, {})
            buckets[bucket] = buckets.get(bucket, 0) + count
        found = []
        for row in oldest:
            seconds = _running_seconds(row, now)
            limit = limits.get(row.task_name or "")
            if limit and seconds > limit:
                found.append(StuckExecution(row, seconds, f"its time limit ({limit:g}s)"))
                continue
            buckets = by_task.get(row.task_name or "", {})
            if sum(buckets.values()) < STUCK_BASELINE_MINIMUM:
                continue
            p95 = percentile(buckets, 0.95) or 0.0
            if seconds > config.stuck_factor * p95:
                found.append(
                    StuckExecution(
                        row,
                        seconds,
                        f"{config.stuck_factor:g} x its p95 runtime ({p95:.3g}s)",
                    )
                )
        return found

    # The checks

    def _guarded(self, checks: list[Check], name: str, check: Callable[[], Any]) -> Any:
        try:
            result, detail = check()
        except OperationError as exc:
            checks.append(Check(name, FAILING, str(exc)))
            return None
        checks.append(Check(name, OK if result is not None else FAILING, detail))
        return result

    def _store_check(self) -> tuple[list[WorkerRecord], str]:
        with store_errors():
            workers = self._services.store.workers()
        return workers, f"reachable ({self._services.store.safe_url})"

    def _broker_check(self, names: list[str]) -> tuple[dict[str, int] | None, str]:
        found, error = self._services.broker.backlogs(names)
        if error is not None:
            return None, f"unreachable: {error}"
        depths = {name: backlog.messages for name, backlog in found.items()}
        return depths, "reachable"

    def _queues(self, workers: list[WorkerRecord], now: datetime) -> list[str]:
        names = set(self._services.broker.configured_queues())
        for worker in workers:
            if worker.online or _seen_since(worker, now - CONSUMED_RECENTLY):
                names.update(worker.queues)
        return sorted(names)

    def _worker_checks(
        self,
        names: list[str],
        workers: list[WorkerRecord],
        depths: dict[str, int],
        now: datetime,
    ) -> list[Check]:
        with store_errors():
            paused = {pause.name for pause in self._services.store.queues.pauses()}
        recently = [w for w in workers if _seen_since(w, now - CONSUMED_RECENTLY)]
        checks = []
        for name in names:
            online = sorted(w.hostname for w in workers if w.online and name in w.queues)
            consumed = any(name in w.queues for w in recently)
            waiting = depths.get(name, 0)
            check = f"workers for queue {name}"
            if online:
                checks.append(Check(check, OK, f"{len(online)} online: {_names(online)}"))
            elif name in paused:
                checks.append(Check(check, OK, "none online; the queue is paused"))
            elif waiting or consumed:
                why = (
                    f"{waiting} message(s) wait" if waiting else "it was consumed in the last hour"
                )
                checks.append(Check(check, FAILING, f"no worker online, and {why}"))
            else:
                checks.append(Check(check, OK, "none online; none needed (nothing waits)"))
        return checks

    def _latency_checks(self, names: list[str], now: datetime) -> list[Check]:
        threshold = self._services.config.health_queue_latency
        late = []
        with store_errors():
            for name in names:
                oldest = self._services.store.queues.oldest_waiting(name, now)
                if oldest is not None:
                    waited = (now - as_utc(oldest)).total_seconds()
                    if waited > threshold:
                        late.append(f"{name} ({waited:.0f}s)")
        if late:
            return [
                Check(
                    "queue latency",
                    FAILING,
                    f"waiting longer than {threshold:g}s: {_names(late)}",
                )
            ]
        return [Check("queue latency", OK, f"nothing has waited longer than {threshold:g}s")]

    def _failure_rate_check(self, now: datetime) -> Check:
        config = self._services.config
        window = timedelta(seconds=config.health_window)
        failing = failure_rates(self.ended_by_task(now - window, now), config.health_failure_rate)
        if failing:
            shown = [f"{task} ({rate:.0%})" for task, rate in failing.items()]
            return Check(
                "failure rate",
                FAILING,
                f"at or above {config.health_failure_rate:.0%} in the last "
                f"{window.total_seconds():g}s: {_names(shown)}",
            )
        return Check(
            "failure rate",
            OK,
            f"no task at or above {config.health_failure_rate:.0%} in the last "
            f"{window.total_seconds():g}s",
        )

    def ended_by_task(self, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
        """Task name -> state -> executions that came to rest in the period."""
        with store_errors():
            found = self._services.store.metrics.totals(MINUTE, since, until, COUNTED_STATES)
        by_task: dict[str, dict[str, int]] = {}
        for (task, _queue, state, _bucket), count in found.items():
            states = by_task.setdefault(task, {})
            states[state] = states.get(state, 0) + count
        return by_task


def failure_rates(counts: dict[str, dict[str, int]], threshold: float) -> dict[str, float]:
    """The tasks whose FAILURE and LOST share reaches ``threshold`` (of enough executions)."""
    failing = {}
    for task, states in sorted(counts.items()):
        total = sum(states.values())
        if total < FAILURE_RATE_MINIMUM:
            continue
        rate = (states.get(FAILURE, 0) + states.get(LOST, 0)) / total
        if rate >= threshold:
            failing[task] = rate
    return failing


def _stuck_check(stuck: list[StuckExecution]) -> Check:
    if not stuck:
        return Check("stuck executions", OK, "none")
    shown = [f"{s.execution.task_name} {s.execution.task_id} (past {s.past})" for s in stuck]
    return Check("stuck executions", FAILING, f"{len(stuck)}: {_names(shown)}")


def _recorder_check(workers: list[WorkerRecord], dropped_here: int) -> Check:
    dropping = [
        f"{w.hostname} ({w.events_dropped})" for w in workers if w.online and w.events_dropped
    ]
    if dropped_here:
        dropping.append(f"this process ({dropped_here})")
    if dropping:
        return Check("recorder", FAILING, f"events dropped by {_names(dropping)}")
    return Check("recorder", OK, "no events dropped")


def _running_seconds(row: Execution, now: datetime) -> float:
    started = row.started_at or row.status_at
    return (now - as_utc(started)).total_seconds() if started is not None else 0.0


def _seen_since(worker: WorkerRecord, since: datetime) -> bool:
    return worker.last_heartbeat is not None and as_utc(worker.last_heartbeat) >= since


def _names(names: Iterable[str]) -> str:
    listed = list(names)
    shown = ", ".join(listed[:NAMES_SHOWN])
    return shown + (f" and {len(listed) - NAMES_SHOWN} more" if len(listed) > NAMES_SHOWN else "")
