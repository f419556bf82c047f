"""Long operations in the background: a thread of the process that accepted them, a row
that any process reads their progress from, and one audit row, written when the job is
accepted and completed with its outcome and counts when it ends.

A job that ends within ``inline_seconds`` answers at once (the API says 200 with its
counts); a longer one answers with its id (202), and ``GET /api/jobs/<id>`` or the
dashboard's job page shows how far it got.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from celery_ops.core.clock import Clock
from celery_ops.core.errors import NotFound, OperationError
from celery_ops.core.records import JobRecord
from celery_ops.operations.actors import Actor
from celery_ops.operations.audit import ACCEPTED, FAILED, OK, PARTIAL, AuditTrail
from celery_ops.operations.errors import store_errors
from celery_ops.store import StoreError
from celery_ops.store.jobs import JobStore

logger = logging.getLogger("celery_ops.operations")

QUEUED, RUNNING, DONE, FAILED_JOB = "queued", "running", "done", "failed"
#: A running job reports at least this often; one silent for longer lost its process.
STALL_SECONDS = 120.0
#: Progress is written at most this often.
PROGRESS_INTERVAL = 0.5
#: Reasons of refusals kept with a job's result.
MAX_REASONS = 20


@dataclass
class JobResult:
    """What a job did, counted: ``done`` items ``verb`` (retried, cancelled, deleted) of the
    ``matched`` ones, ``refused`` others, and why (the first few reasons)."""

    verb: str
    done: int = 0
    matched: int | None = None
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    #: Other counts worth saying (``terminated``), or a cap that was reached.
    extra: dict[str, Any] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        self.refused += 1
        if len(self.errors) < MAX_REASONS:
            self.errors.append(reason)

    @property
    def outcome(self) -> str:
        if not self.refused:
            return OK
        return PARTIAL if self.done else FAILED

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {self.verb: self.done}
        if self.matched is not None:
            counts["matched"] = self.matched
        counts["refused"] = self.refused
        return {**counts, **self.extra, "errors": list(self.errors)}


class ProgressReport(Protocol):
    """Where long work says how far it got (a job's row, a command line's progress bar)."""

    def expect(self, total: int) -> None:
        """``total`` items in all."""

    def advance(self, count: int = 1) -> None:
        """``count`` more items done."""


class Progress:
    """Handed to a job's work: how many items in all, and how many are done."""

    def __init__(
        self, report: Callable[[int, int | None], None], clock: Clock, job_id: str = ""
    ) -> None:
        #: The job's id: where work that keeps what it makes (an export's file) keeps it.
        self.job_id = job_id
        self._report = report
        self._clock = clock
        self.done = 0
        self.total: int | None = None
        self._last = 0.0

    def expect(self, total: int) -> None:
        self.total = total
        self._write(force=True)

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._write()

    def _write(self, force: bool = False) -> None:
        now = self._clock.timestamp()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self._report(self.done, self.total)


Work = Callable[[Progress], JobResult]


@dataclass(frozen=True)
class Accepted:
    """A job started: its id, and its record if it already ended."""

    job_id: str
    finished: JobRecord | None


class JobRunner:
    """Starts jobs, keeps their rows and their audit rows."""

    def __init__(self, store: JobStore, audit: AuditTrail, clock: Clock, inline_seconds: float):
        self.store = store
        self.audit = audit
        self.clock = clock
        self.inline_seconds = inline_seconds

    def start(
        self,
        actor: Actor,
        action: str,
        targets: dict[str, Any],
        work: Work,
        inline_seconds: float | None = None,
    ) -> Accepted:
        """Accept ``work`` (the role was checked by the caller) and run it in a thread; wait
        ``inline_seconds`` (default: the runner's) for it to end before answering."""
        now = self.clock.now()
        audit_id = self.audit.write(self.audit.entry(actor, action, targets, ACCEPTED))
        job = JobRecord(
            id=uuid.uuid4().hex,
            action=action,
            actor=actor.name,
            status=QUEUED,
            created_at=now,
            updated_at=now,
            audit_id=audit_id,
        )
        try:
            with store_errors():
                self.store.create(job)
        except OperationError as exc:
            if audit_id is not None:
                self.audit.store.complete(audit_id, FAILED, targets, str(exc))
            raise
        ended = threading.Event()
        thread = threading.Thread(
            target=self._run,
            args=(job, targets, work, ended),
            name=f"celery-ops-job-{job.id[:8]}",
            daemon=True,
        )
        thread.start()
        ended.wait(self.inline_seconds if inline_seconds is None else inline_seconds)
        return Accepted(job.id, self._get(job.id) if ended.is_set() else None)

    def get(self, job_id: str) -> JobRecord:
        """A job's record; a job whose process stopped reporting is failed."""
        job = self._get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.status in (QUEUED, RUNNING) and job.updated_at is not None:
            silent = self.clock.now() - job.updated_at
            if silent > timedelta(seconds=STALL_SECONDS):
                result = {"error": "the process running it stopped before it ended"}
                with store_errors():
                    self.store.finish(job.id, FAILED_JOB, job.done, result, self.clock.now())
                job = self._get(job_id) or job
        return job

    def _get(self, job_id: str) -> JobRecord | None:
        with store_errors():
            return self.store.get(job_id)

    def _run(
        self, job: JobRecord, targets: dict[str, Any], work: Work, ended: threading.Event
    ) -> None:
        def report(done: int, total: int | None) -> None:
            try:
                self.store.progress(job.id, done, total, RUNNING, self.clock.now())
            except StoreError as exc:
                logger.warning("celery-ops: job %s: could not write progress: %s", job.id, exc)

        progress = Progress(report, self.clock, job.id)
        report(0, None)
        try:
            result = work(progress)
        except Exception as exc:
            if not isinstance(exc, OperationError):
                logger.exception("celery-ops: job %s (%s) failed", job.id, job.action)
            reason = str(exc) if isinstance(exc, OperationError) else f"{type(exc).__name__}: {exc}"
            self._finish(job, FAILED_JOB, progress.done, {"error": reason}, targets, FAILED, reason)
        else:
            detail = "; ".join(result.errors[:5]) or None
            summary = result.as_dict()
            self._finish(job, DONE, progress.done, summary, targets, result.outcome, detail)
        finally:
            ended.set()

    def _finish(
        self,
        job: JobRecord,
        status: str,
        done: int,
        result: dict[str, Any],
        targets: dict[str, Any],
        outcome: str,
        detail: str | None,
    ) -> None:
        try:
            self.store.finish(job.id, status, done, result, self.clock.now())
            if job.audit_id is not None:
                counts = {k: v for k, v in result.items() if k != "errors"}
                self.audit.store.complete(job.audit_id, outcome, {**targets, **counts}, detail)
        except StoreError as exc:
            logger.error(
                "celery-ops: job %s ended (%s) but could not say so: %s", job.id, status, exc
            )
