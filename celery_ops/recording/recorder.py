"""`ExecutionRecorder`: a bounded in-process buffer and the thread that writes it in batches.

Signal handlers call :meth:`ExecutionRecorder.record`, which only appends to a deque; the
flusher thread writes batches every ``ops_flush_interval`` or every ``ops_flush_batch``
events. A slow or unreachable database delays writes, never a task: events wait in the
buffer up to ``ops_buffer_max``; past it they are counted, logged and reported, never lost
silently. Each process (including each prefork child) has its own buffer and thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from celery_ops.recording.events import RecorderEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.relay import RelaySink
from celery_ops.settings import OpsConfig
from celery_ops.store import RecordBatch, RowRejected, SchemaError, Store

logger = logging.getLogger("celery_ops.recorder")

MAX_BACKOFF_S = 10.0


#: While a flush waits for a store that refuses its writes, how often it asks for another try.
FLUSH_RETRY_S = 1.0


@dataclass
class RecorderStats:
    """Counters of one process's recorder, for logs, metrics and benchmarks."""

    recorded: int = 0
    written: int = 0
    batches: int = 0
    dropped: int = 0
    failed_writes: int = 0
    flush_seconds: float = 0.0
    #: When the last write succeeded (Unix time; None: nothing written yet).
    last_write_at: float | None = None


@dataclass(frozen=True)
class RecorderHealth:
    """One process's recorder as its metrics show it."""

    buffered: int
    dropped: int
    #: Age of the oldest event waiting to be written, seconds (0: none waits).
    flush_lag_seconds: float
    last_write_at: float | None


@dataclass
class _PeriodicJob:
    interval: float
    run: Callable[[], None]
    due: float = 0.0


class ExecutionRecorder:
    """Buffers recorder events and writes them from a background thread: to a :class:`Store`,
    or in relay mode to a :class:`RelaySink` (the stream an ingester writes from)."""

    def __init__(self, config: OpsConfig, store: Store, relay: RelaySink | None = None) -> None:
        self.config = config
        self.store = store
        self.relay = relay
        #: Settles the batches whose members' ends this recorder wrote (set by the extension).
        self.on_batches_ended: Callable[[list[str]], object] | None = None
        #: Worker hostname, when this process belongs to a worker (drops are reported on it).
        self.hostname: str | None = None
        self._jobs: list[_PeriodicJob] = []
        # Kept across a fork: a schema checked before the pool forked needs no check in every
        # pool process (each one costs a connection, three queries and Alembic's scripts).
        self._schema_checked = False
        self._reset()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(ref))

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._buffer: deque[RecorderEvent] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._unreported_drops = 0
        self._in_flight = 0
        self._last_drop_log = 0.0
        self._failing_since: float | None = None
        self.stats = RecorderStats()

    # The task's path: must stay cheap and must never raise.

    def record(self, event: RecorderEvent) -> None:
        buffer = self._buffer
        if len(buffer) >= self.config.buffer_max:
            self._drop()
            return
        buffer.append(event)
        self.stats.recorded += 1
        if self._thread is None:
            self._start()
        if len(buffer) >= self.config.flush_batch and not self._wake.is_set():
            self._wake.set()  # set() takes a lock: once per wake-up, not once per event

    def _drop(self) -> None:
        self.stats.dropped += 1
        self._unreported_drops += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 10.0:
            self._last_drop_log = now
            logger.warning(
                "celery-ops: buffer full (%d events, ops_buffer_max) while the store is "
                "unreachable; %d event(s) dropped so far in process %d",
                len(self._buffer),
                self.stats.dropped,
                os.getpid(),
            )

    # Lifecycle

    def add_periodic(self, interval: float, job: Callable[[], None]) -> None:
        """Run ``job`` on the flusher thread about every ``interval`` seconds."""
        self._jobs.append(_PeriodicJob(interval, job))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._stopping = False
            thread = threading.Thread(target=self._run, name="celery-ops-flusher", daemon=True)
            self._thread = thread
            thread.start()

    def health(self) -> RecorderHealth:
        """What is buffered, dropped and how late, for /metrics and the health checks."""
        buffer = self._buffer
        oldest = getattr(buffer[0], "at", None) if buffer else None
        lag = max(0.0, time.time() - oldest) if isinstance(oldest, float) else 0.0
        return RecorderHealth(
            buffered=len(buffer) + self._in_flight,
            dropped=self.stats.dropped,
            flush_lag_seconds=lag,
            last_write_at=self.stats.last_write_at,
        )

    @property
    def healthy(self) -> bool:
        """Whether the last write to the store succeeded."""
        return self._failing_since is None

    def flush(self, timeout: float) -> bool:
        """Wait until everything recorded so far is written; False if ``timeout`` ran out."""
        if self._thread is None:
            return not self._buffer
        deadline = time.monotonic() + timeout
        next_wake = 0.0
        with self._idle:
            while self._buffer or self._in_flight:
                now = time.monotonic()
                if now >= next_wake:
                    # Write now rather than at the next interval; while the store refuses,
                    # try again at most once a second (not in a tight loop).
                    self._wake.set()
                    next_wake = now + FLUSH_RETRY_S
                remaining = deadline - now
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.1))
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush what is buffered (waiting at most ``timeout``) and stop the thread."""
        timeout = self.config.shutdown_flush_timeout if timeout is None else timeout
        thread = self._thread
        if thread is None:
            return
        written = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        thread.join(timeout=max(1.0, timeout))
        self._thread = None
        if self.relay is not None:
            self.relay.close()
        if not written and self._buffer:
            logger.warning(
                "celery-ops: %d event(s) could not be written before exit (store unreachable "
                "for %.0fs, ops_shutdown_flush_timeout)",
                len(self._buffer),
                timeout,
            )

    # The flusher thread

    def _run(self) -> None:
        failures = 0
        while not self._stopping:
            delay = self.config.flush_interval
            if failures:
                delay = min(MAX_BACKOFF_S, self.config.flush_interval * 2**failures)
            self._wake.wait(delay)
            self._wake.clear()
            failures = 0 if self._write_buffer() else min(failures + 1, 8)
            if self.relay is not None:
                self.relay.retry_spilled()
            self._run_due_jobs()
            with self._idle:
                self._idle.notify_all()

    def _run_due_jobs(self) -> None:
        now = time.monotonic()
        for job in self._jobs:
            if now >= job.due:
                job.due = now + job.interval
                try:
                    job.run()
                except Exception as exc:
                    logger.warning("celery-ops: periodic job %s failed: %s", job.run, exc)

    def _write_buffer(self) -> bool:
        """Write what is buffered, full batches first; False when the store is unreachable."""
        buffer = self._buffer
        # One partial batch per wake-up at most: under load, writing again as soon as a few
        # events arrived would turn the flusher into a loop of tiny, costly transactions.
        partial_written = False
        while (buffer or self._reportable_drops()) and not partial_written:
            partial_written = len(buffer) < self.config.flush_batch
            taken = [buffer.popleft() for _ in range(min(len(buffer), self.config.flush_batch))]
            self._in_flight = len(taken)
            started = time.perf_counter()
            try:
                self._check_schema()
                try:
                    self._write(taken)
                except RowRejected:
                    # The database is up but refuses something in this batch: find it and
                    # drop it alone, loudly; keep the rest.
                    self.stats.failed_writes += 1
                    self._write_one_by_one(taken)
            except Exception as exc:
                cause: BaseException = exc
                if isinstance(exc, _StoreUnreachable):
                    taken, cause = exc.unwritten, exc.__cause__ or exc
                buffer.extendleft(reversed(taken))
                self._in_flight = 0
                self.stats.failed_writes += 1
                self._report_failure(cause)
                return False
            self._in_flight = 0
            self.stats.written += len(taken)
            self.stats.batches += 1
            self.stats.last_write_at = time.time()
            self.stats.flush_seconds += time.perf_counter() - started
            if self._failing_since is not None:
                logger.warning(
                    "celery-ops: store reachable again after %.1fs; buffered events written",
                    time.monotonic() - self._failing_since,
                )
                self._failing_since = None
        return True

    def _reportable_drops(self) -> int:
        # Drops are reported on the worker's row; a producer has none and only logs them.
        return self._unreported_drops if self.hostname else 0

    def _write(self, events: list[RecorderEvent]) -> None:
        batch = fold_events(
            _yielding(events), self.config.max_payload_bytes, self.config.store_message_args
        )
        drops = self._reportable_drops()
        if drops and self.hostname:
            batch.dropped[self.hostname] = drops
        if self.relay is not None:
            self.relay.write(batch)
        else:
            self.store.write(batch)
            settle_batches(self.on_batches_ended, batch)
        self._unreported_drops -= drops

    def _write_one_by_one(self, events: list[RecorderEvent]) -> None:
        """Write each event alone; one the store refuses is dropped, counted and logged."""
        for index, event in enumerate(events):
            try:
                self._write([event])
            except RowRejected as exc:
                self.stats.dropped += 1
                self._unreported_drops += 1
                logger.error(
                    "celery-ops: the store refused an event, which is dropped: %r (%s)",
                    event,
                    exc,
                )
            except Exception as exc:
                raise _StoreUnreachable(events[index:]) from exc

    def ensure_schema(self) -> None:
        """Check the schema (creating it in an empty database) before anything is written;
        this process, and the processes it forks afterwards, then write without checking."""
        self.store.ensure_schema(create=self.config.create_schema)
        self._schema_checked = True
        if self.relay is not None:
            self.store.dispose()  # a relaying process keeps no connection to the store

    def _check_schema(self) -> None:
        # In relay mode this process never writes to the store: the ingesters check it.
        if not self._schema_checked and self.relay is None:
            self.ensure_schema()

    def _report_failure(self, exc: BaseException) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            level = logging.ERROR if isinstance(exc, SchemaError) else logging.WARNING
            logger.log(
                level,
                "celery-ops: cannot write to the store (%s); %d event(s) kept in memory and "
                "retried, up to ops_buffer_max=%d",
                _one_line(exc),
                len(self._buffer),
                self.config.buffer_max,
            )


#: Events folded between two hand-overs of the GIL (about 1 ms of work).
FOLD_SLICE = 32


def _yielding(events: list[RecorderEvent]) -> Iterator[RecorderEvent]:
    """``events``, giving the GIL away every FOLD_SLICE of them. A thread waiting for the GIL
    (the app's, back from a socket call) otherwise gets it only when CPython forces a switch,
    every 5 ms (sys.getswitchinterval()): a producer publishing in a loop lost a quarter of
    its rate to its flusher that way."""
    for index, event in enumerate(events):
        if index and not index % FOLD_SLICE:
            time.sleep(0)
        yield event


class _StoreUnreachable(Exception):
    """The store went away while a refused batch was being written event by event."""

    def __init__(self, unwritten: list[RecorderEvent]) -> None:
        super().__init__(f"{len(unwritten)} event(s) not written")
        self.unwritten = unwritten


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _reset_in_child(ref: weakref.ref[ExecutionRecorder]) -> None:
    recorder = ref()
    if recorder is not None:
        # Events buffered by the parent are the parent's to write, its periodic jobs (worker
        # heartbeats) are its own, and its thread did not survive the fork.
        recorder._jobs = []
        recorder._reset()


def settle_batches(settle: Callable[[list[str]], object] | None, batch: RecordBatch) -> None:
    """After a write: let ``settle`` send the callbacks the ended members' batches call for.
    Never raises into the writer (a callback that could not be sent gives its claim back, and
    the next settling of its batch sends it)."""
    if settle is None or not batch.batches_ended:
        return
    try:
        settle(batch.batches_ended)
    except Exception:
        logger.exception("celery-ops: could not settle batches %s", batch.batches_ended)
