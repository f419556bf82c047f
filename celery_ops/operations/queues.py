"""Queues: their depth in the broker, their consumers, how long work waits in them, and the
actions an operator takes on them (pause and resume across the cluster, purge)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.core.clock import as_utc
from celery_ops.core.errors import NotFound, Unavailable
from celery_ops.core.records import QueuePause
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.broker import Backlog, TakenMessage, take_messages
from celery_ops.operations.control import Answers
from celery_ops.operations.errors import store_errors
from celery_ops.operations.jobs import Accepted, JobResult, Progress
from celery_ops.operations.periods import summarize
from celery_ops.operations.requests import QueueRequest, parse
from celery_ops.operations.services import OperationGroup, Services
from celery_ops.operations.workers import online_workers
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events

#: Counts in statistics stop at this many: "10000" reads "10,000 or more".
STATS_CAP = 10_000
#: Ended executions are counted over this window (those under way whatever their age).
COUNTS_WINDOW = timedelta(days=1)
#: Wait-time percentiles are over the executions started this long ago at most.
WAIT_WINDOW = timedelta(hours=1)
#: A queue purge answers at once when it ends within this many seconds (else: a job id).
PURGE_INLINE_SECONDS = 10.0
#: How long the counts of executions under way per queue are reused. On a store with
#: hundreds of thousands of them those counts take a second or more, and the queue pages
#: follow their queues live (a poll every few seconds, from every open page).
UNDER_WAY_REUSED_FOR = 15.0


class _RecentCounts:
    """The under-way counts per queue of each store, kept :data:`UNDER_WAY_REUSED_FOR`."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, tuple[str, ...]], tuple[float, dict[str, dict[str, int]]]] = {}
        self._lock = threading.Lock()

    def get(self, services: Services, names: Sequence[str]) -> dict[str, dict[str, int]]:
        key = (id(services.store), tuple(names))
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < UNDER_WAY_REUSED_FOR:
            return kept[1]
        counted = services.store.queues.counts(names, None, STATS_CAP)
        with self._lock:
            if len(self._kept) > 64:  # names change rarely; never let it grow unbounded
                self._kept.clear()
            self._kept[key] = (now, counted)
        return counted


_under_way = _RecentCounts()


@dataclass(frozen=True)
class Backlogs:
    """Each queue's backlog in the broker, and what went wrong reading it, if anything."""

    queues: dict[str, Backlog]
    broker_error: str | None


@dataclass(frozen=True)
class QueueView:
    """A queue as the broker, the workers and the store see it."""

    name: str
    #: Messages waiting in the broker (Redis: summed over the priority sub-queues).
    depth: int | None
    #: Workers consuming it: the broker's count on RabbitMQ, the workers' own answers else.
    consumers: int | None
    pause: QueuePause | None
    counts: dict[str, int]
    #: Age of the oldest execution still waiting (PENDING) in the store.
    latency_seconds: float | None
    wait_p50_seconds: float | None
    wait_p95_seconds: float | None
    broker_error: str | None = None

    @property
    def paused(self) -> bool:
        return self.pause is not None

    def as_dict(self) -> dict[str, Any]:
        pause = self.pause
        return {
            "name": self.name,
            "depth": self.depth,
            "consumers": self.consumers,
            "paused": self.paused,
            "paused_by": pause.paused_by if pause else None,
            "paused_at": as_utc(pause.paused_at).isoformat() if pause else None,
            "counts": self.counts,
            "counts_capped_at": STATS_CAP,
            "counts_window_seconds": COUNTS_WINDOW.total_seconds(),
            "latency_seconds": self.latency_seconds,
            "wait_p50_seconds": self.wait_p50_seconds,
            "wait_p95_seconds": self.wait_p95_seconds,
            "broker_error": self.broker_error,
            # Earlier names of the same figures, kept for existing clients.
            "queue": self.name,
            "backlog": self.depth,
            "executions_by_status": self.counts,
        }


@dataclass(frozen=True)
class PauseChange:
    """A pause remembered (or ended), and what each worker answered."""

    queue: str
    pause: QueuePause | None
    answers: Answers | None
    broker_error: str | None

    def as_dict(self) -> dict[str, Any]:
        pause = self.pause
        return {
            "queue": self.queue,
            "paused": pause is not None,
            "paused_by": pause.paused_by if pause else None,
            "paused_at": as_utc(pause.paused_at).isoformat() if pause else None,
            "replies": self.answers.replies if self.answers else {},
            "broker_error": self.broker_error,
        }


def checked_queue(name: Any) -> str:
    """A queue name as given in a path, a form or a command line."""
    return parse(QueueRequest, {"queue": name}).queue


class QueueOperations(OperationGroup):
    # Reading (viewer)

    def known(self) -> list[str]:
        """The app's declared queues, those online workers consume, those the store has
        seen in its latest executions, definitions and schedules, and the paused ones."""
        self._require(VIEWER)
        services = self._services
        names = services.broker.configured_queues()
        with store_errors():
            for worker in services.store.workers():
                if worker.online:
                    names.update(worker.queues)
            names.update(services.store.queues.names_seen())
            names.update(pause.name for pause in services.store.queues.pauses())
        return sorted(names)

    def backlogs(self, names: Sequence[str] | None = None) -> Backlogs:
        self._require(VIEWER)
        found, error = self._services.broker.backlogs(self.known() if names is None else names)
        return Backlogs(found, error)

    def all(self, counts: bool = True) -> list[QueueView]:
        """Every known queue, with its figures (without the store's counts by state and
        wait percentiles unless ``counts``: those cost a few queries per queue)."""
        self._require(VIEWER)
        names = self.known()
        consumers = self._live_consumers()
        names = sorted(set(names) | set(consumers))
        return self._views(names, consumers, counts)

    def get(self, name: str) -> QueueView:
        """One queue's figures; NotFound if neither the broker, the workers, the app's
        configuration nor the store knows it."""
        self._require(VIEWER)
        checked_queue(name)
        consumers = self._live_consumers()
        view = self._views([name], consumers)[0]
        known = (
            name in consumers
            or view.paused
            or (view.depth or 0) > 0
            or name in self._services.broker.configured_queues()
            or any(view.counts.values())
        )
        if not known and name not in self.known():
            raise NotFound(f"no queue named {name!r} in the broker, the workers or the store")
        return view

    def stats(self, name: str) -> dict[str, Any]:
        return self.get(name).as_dict()

    def pauses(self) -> list[QueuePause]:
        self._require(VIEWER)
        with store_errors():
            return self._services.store.queues.pauses()

    # Acting (operator)

    def pause(self, name: str) -> PauseChange:
        """Every worker stops consuming ``name`` and the pause is remembered: a worker that
        starts later does not consume it either. Messages stay in the broker, in order."""
        with self._operation("queue-pause", {"queue": name}, OPERATOR) as audited:
            queue = checked_queue(name)
            wanted = QueuePause(queue, self.actor.name, self._services.clock.now())
            with store_errors():
                pause = audited.commit(
                    lambda entry: self._services.store.queues.pause(wanted, entry)
                )
        return self._tell_workers("ops_pause_queue", queue, pause)

    def resume(self, name: str) -> PauseChange:
        """The workers that consumed ``name`` before its pause consume it again."""
        with self._operation("queue-resume", {"queue": name}, OPERATOR) as audited:
            queue = checked_queue(name)
            with store_errors():
                ended = audited.commit(
                    lambda entry: self._services.store.queues.resume(queue, entry)
                )
            audited.targets["was_paused"] = ended is not None
        return self._tell_workers("ops_resume_queue", queue, None)

    def purge(self, name: str) -> Accepted:
        """Take every waiting message off ``name`` (in the background when long); the
        executions they carried become REVOKED, naming the purge and who asked."""
        with self._operation("queue-purge", {"queue": name}, OPERATOR) as audited:
            queue = checked_queue(name)
            backlog = self.backlogs([queue])
            if backlog.broker_error:
                raise Unavailable(f"the broker cannot be reached: {backlog.broker_error}")
            audited.targets["depth"] = backlog.queues[queue].messages
            work = functools.partial(_purge_work, self._services, queue, self.actor.name)
            accepted = self._services.jobs.start(
                self.actor, "queue-purge", audited.targets, work, PURGE_INLINE_SECONDS
            )
            audited.handed_over()
            return accepted

    # Figures

    def _views(
        self, names: Sequence[str], consumers: dict[str, int], counts: bool = True
    ) -> list[QueueView]:
        services = self._services
        found, error = services.broker.backlogs(names)
        now = services.clock.now()
        with store_errors():
            pauses = {pause.name: pause for pause in services.store.queues.pauses()}
            # Under way: counted along the status index (reused a few seconds); ended and
            # waits: from the rollups.
            by_queue = _under_way.get(services, names) if counts else {}
        views = []
        for name in names:
            backlog = found.get(name)
            counted = backlog.consumers if backlog is not None else None
            figures = dict(by_queue.get(name, {}))
            waits: dict[str, float | None] = {}
            if counts:
                ended = summarize(services.store, now - COUNTS_WINDOW, now, queue=name)
                figures.update(ended.counts)
                waits = summarize(services.store, now - WAIT_WINDOW, now, queue=name).wait
            with store_errors():
                latency = self._latency(name, now)
            views.append(
                QueueView(
                    name=name,
                    depth=backlog.messages if backlog is not None else None,
                    consumers=counted if counted is not None else consumers.get(name, 0),
                    pause=pauses.get(name),
                    counts=figures,
                    latency_seconds=latency,
                    wait_p50_seconds=waits.get("p50"),
                    wait_p95_seconds=waits.get("p95"),
                    broker_error=error,
                )
            )
        return views

    def _latency(self, name: str, now: datetime) -> float | None:
        oldest = self._services.store.queues.oldest_waiting(name, now)
        if oldest is None:
            return None
        return max(0.0, (now - as_utc(oldest)).total_seconds())

    def _live_consumers(self) -> dict[str, int]:
        consumers: dict[str, int] = {}
        online = online_workers(self._services)
        if not online:
            return consumers
        try:
            reports = self._services.control.reports(online)
        except Unavailable:
            return consumers
        for report in reports.values():
            for queue in report.get("active_queues") or ():
                if isinstance(queue, dict) and queue.get("name"):
                    consumers[queue["name"]] = consumers.get(queue["name"], 0) + 1
        return consumers

    def _tell_workers(self, command: str, queue: str, pause: QueuePause | None) -> PauseChange:
        online = online_workers(self._services)
        try:
            answers = (
                self._services.control.command(command, {"queue": queue}, online)
                if online
                else Answers(command)
            )
        except Unavailable as exc:
            # Remembered all the same: each worker applies it at its next heartbeat.
            return PauseChange(queue, pause, None, str(exc))
        return PauseChange(queue, pause, answers, None)


def _purge_work(services: Services, queue: str, actor: str, progress: Progress) -> JobResult:
    """Take the queue's messages; each one's execution becomes REVOKED, in the store before
    the message is acknowledged (a failed write puts the chunk back)."""
    result = JobResult("purged")
    found, _ = services.broker.backlogs([queue])
    backlog = found.get(queue)
    progress.expect(backlog.messages if backlog else 0)
    reason = f"queue {queue} purged by {actor}"
    without_id = 0

    def revoke(chunk: list[TakenMessage]) -> None:
        nonlocal without_id
        now = time.time()
        events = []
        for taken in chunk:
            if taken.task_id is None:
                without_id += 1
                continue
            events.append(_purged_event(taken, queue, reason, actor, now))
        batch = fold_events(
            events, services.config.max_payload_bytes, services.config.store_message_args
        )
        with store_errors():
            services.store.write(batch)
        progress.advance(len(chunk))

    result.done = take_messages(services.broker, queue, revoke)
    result.extra["queue"] = queue
    if without_id:
        result.extra["without_task_id"] = without_id
    return result


def _purged_event(
    taken: TakenMessage, queue: str, reason: str, actor: str, now: float
) -> ExecutionEvent:
    assert taken.task_id is not None
    return ExecutionEvent(
        taken.task_id,
        "revoked",
        now,
        states.REVOKED,
        taken.attempt,
        values={
            "task_name": taken.task,
            "queue": queue,
            "revoked_at": now,
            "completed_at": now,
            "error_type": "QueuePurged",
            "error_message": reason,
        },
        details={"purged_from": queue, "by": actor},
    )
