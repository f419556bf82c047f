"""Keeping the store small and true: purge by age, retention, the lost-work reaper."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import as_utc
from celery_ops.core.durations import format_duration
from celery_ops.core.errors import InvalidInput, Unavailable
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import AuditEntry
from celery_ops.core.rollups import DAY, HOUR, MINUTE
from celery_ops.operations import bulk
from celery_ops.operations.actors import ADMIN, OPERATOR, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.jobs import ProgressReport
from celery_ops.operations.services import OperationGroup
from celery_ops.recording.ingest import WORKER_LEASE
from celery_ops.recording.relay import StreamUnavailable
from celery_ops.recording.spill import SpillDirectory
from celery_ops.store import ReapResult
from celery_ops.store.schema import HEAD_REVISION

#: How long hourly and daily rollups are kept (minute ones: ``ops_metrics_retention``).
HOURLY_KEPT = 366 * 86_400.0
DAILY_KEPT = 5 * 366 * 86_400.0


@dataclass
class RetentionReport:
    """What ``ops retention`` deleted (or would): executions by status, and schedule runs."""

    executions: dict[str, int] = field(default_factory=dict)
    schedule_runs: int | None = None
    #: Metric rollups past their grain's retention (they outlive the executions).
    rollups: int | None = None

    @property
    def total(self) -> int:
        return sum(self.executions.values())


@dataclass(frozen=True)
class RelayStatus:
    """Where the record is on its way to the store (docs/scaling.md)."""

    mode: str  # "direct" or "relay"
    #: Relay: batches on the stream not yet written, and how many an ingester is writing.
    waiting: int | None = None
    in_flight: int | None = None
    #: Relay: age of the oldest batch not yet written (the ingest lag), seconds.
    oldest_age_s: float | None = None
    #: Relay: the worker process that ingests under the lease, and until when it holds it.
    ingester: str | None = None
    ingester_until: datetime | None = None
    #: Spill files waiting on this host for the broker.
    spilled_here: int = 0
    #: What could not be read (the broker or the store down), in a sentence.
    problem: str | None = None


class MaintenanceOperations(OperationGroup):
    def relay_status(self) -> RelayStatus:
        """The write mode and, in relay mode, the stream's backlog, the ingest lag, the
        ingester holding the lease and this host's spill files."""
        self._require(VIEWER)
        config = self._services.config
        spilled = SpillDirectory(config.spill_dir).count_waiting()
        backlog_of = self._services.relay_backlog
        if config.write_mode != "relay" or backlog_of is None:
            return RelayStatus(mode="direct", spilled_here=spilled)
        problems = []
        try:
            backlog = backlog_of()
        except StreamUnavailable as exc:
            backlog = None
            problems.append(f"the relay stream cannot be read ({exc})")
        lease = None
        try:
            with store_errors():
                lease = self._services.store.relay.lease(WORKER_LEASE)
        except Unavailable as exc:
            problems.append(str(exc))
        return RelayStatus(
            mode="relay",
            waiting=backlog.waiting if backlog else None,
            in_flight=backlog.pending if backlog else None,
            oldest_age_s=backlog.oldest_age_s if backlog else None,
            ingester=lease[0] if lease else None,
            ingester_until=as_utc(lease[1]) if lease else None,
            spilled_here=spilled,
            problem="; ".join(problems) or None,
        )

    def selection(self, selection: Mapping[str, Any]) -> ExecutionFilter:
        """What ``{"older_than": "7d", "status": [...]}``, ``{"filter": {...}}`` or
        ``{"task_ids": [...]}`` selects (InvalidInput when it is malformed)."""
        return bulk.selection_filter(selection, self._services.clock.now(), by_age=True)

    def count(self, selection: Mapping[str, Any]) -> int:
        """How many executions a purge of ``selection`` would delete (a dry run)."""
        self._require(OPERATOR)
        where = self.selection(selection)
        with store_errors():
            return self._services.store.count_executions(where, None)

    def purge(
        self,
        selection: Mapping[str, Any],
        chunk_size: int = 1000,
        progress: ProgressReport | None = None,
    ) -> int:
        """Delete the selected executions and their timelines now, ``chunk_size`` per
        transaction, saying how far it got (the command line's purge shows a bar)."""
        with self._operation("purge", {}, OPERATOR) as audited:
            where = self.selection(selection)
            audited.targets.update(bulk.described(where))
            bulk.check_purge(where)
            _check_chunk_size(chunk_size)
            total = self._services.store.count_executions(where, None)
            if progress is not None:
                progress.expect(total)
            deleted = 0

            def counted(rows: int) -> None:
                nonlocal deleted
                deleted += rows
                audited.targets["deleted"] = deleted  # what was deleted stays deleted
                if progress is not None:
                    progress.advance(rows)

            audited.targets["deleted"] = 0
            self._services.store.purge(where, chunk_size, counted)
            return deleted

    def retention(
        self,
        dry_run: bool = False,
        chunk_size: int = 1000,
        progress: ProgressReport | None = None,
    ) -> RetentionReport:
        """Apply ``ops_retention`` to executions and ``ops_beat_run_history`` to schedule
        runs. A dry run counts and writes nothing (and no audit row)."""
        config = self._services.config
        now = self._services.clock.now()
        report = RetentionReport()
        wheres = {
            status: ExecutionFilter(statuses=(status,), until=now - timedelta(seconds=age))
            for status, age in sorted(config.retention.items())
        }
        if dry_run:
            self._require(OPERATOR)
            with store_errors():
                for status, where in wheres.items():
                    report.executions[status] = self._services.store.count_executions(where, None)
            return report
        policy = {status: format_duration(age) for status, age in config.retention.items()}
        with self._operation("retention", {"policy": policy}, OPERATOR) as audited:
            _check_chunk_size(chunk_size)
            cutoff = now - timedelta(seconds=config.beat_run_history)
            report.schedule_runs = self._services.store.schedules.delete_runs_before(cutoff)
            report.rollups = self._forget_rollups(now)
            if progress is not None:
                store = self._services.store
                progress.expect(sum(store.count_executions(w, None) for w in wheres.values()))
            on_chunk = progress.advance if progress is not None else None
            for status, where in wheres.items():
                report.executions[status] = self._services.store.purge(where, chunk_size, on_chunk)
            audited.targets.update(
                deleted=report.executions,
                schedule_runs=report.schedule_runs,
                rollups=report.rollups,
            )
            return report

    def _forget_rollups(self, now: datetime) -> int:
        """Minute rollups past ``ops_metrics_retention``, hourly ones past a year and daily
        ones past five years."""
        kept = {MINUTE: self._services.config.metrics_retention, HOUR: HOURLY_KEPT, DAY: DAILY_KEPT}
        cutoffs = {grain: now - timedelta(seconds=age) for grain, age in kept.items()}
        # Alerts sent or given up are kept as long as the minute rollups.
        self._services.store.alerts.forget_before(cutoffs[MINUTE])
        return self._services.store.metrics.forget_before(cutoffs)

    def reap_lost_work(self) -> ReapResult:
        """Mark offline the workers silent past ``ops_worker_timeout`` and LOST what they
        held; audited (in the same transaction) only when it changed something."""
        self._require(ADMIN)
        timeout = self._services.config.worker_timeout

        def entry(result: ReapResult) -> AuditEntry:
            targets = {
                "workers_offline": result.workers_offline,
                "executions_lost": result.executions_lost,
            }
            return self._services.audit.entry(self.actor, "reap", targets, "ok")

        with store_errors():
            return self._services.store.reap_lost_work(timeout, self._services.clock.now(), entry)

    def ensure_schema(self) -> None:
        """Make sure the tables exist and match this version (creating them in an empty
        database when ``ops_create_schema`` allows it)."""
        with store_errors():
            self._services.store.ensure_schema(self._services.config.create_schema)

    def schema_status(self) -> tuple[str | None, str]:
        """The schema revision of the database (None: no tables) and the one this version
        of celery-ops needs."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.current_revision(), HEAD_REVISION

    def upgrade_schema(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Create or migrate the celery-ops tables; the revisions before and after."""
        self._require(ADMIN)
        store = self._services.store
        with store_errors():
            before = store.current_revision()
        audit = self._services.audit
        targets: dict[str, Any] = {"revision": revision, "from": before}
        try:
            with store_errors():
                store.upgrade(revision)
                after = store.current_revision()
        except Exception as exc:
            audit.write(audit.entry(self.actor, "schema-upgrade", targets, "failed", str(exc)))
            raise
        # Written after the upgrade: on a new database the audit table exists only now.
        targets["to"] = after
        audit.write(audit.entry(self.actor, "schema-upgrade", targets, "ok"))
        return before, after


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 100_000:
        raise InvalidInput("the chunk size must be a whole number between 1 and 100000")
