"""`init_app`: add celery-ops to one Celery app, and wire its parts together."""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery_ops import signals
from celery_ops.core.clock import SYSTEM_CLOCK, Clock
from celery_ops.operations.actors import Actor
from celery_ops.recording.flow import FlowState, FlowUnavailable, RedisFlowState, StoreFlowState
from celery_ops.recording.handoff import ReceivedHandoff
from celery_ops.recording.ingest import Ingester, run_under_lease
from celery_ops.recording.queues import BrokerQueueStream
from celery_ops.recording.recorder import ExecutionRecorder
from celery_ops.recording.relay import RelaySink, StreamUnavailable
from celery_ops.recording.spill import SpillDirectory
from celery_ops.recording.streams import RedisStream, StreamBacklog
from celery_ops.scheduling.definition import SendRequest
from celery_ops.scheduling.sending import ScheduleSender
from celery_ops.settings import ConfigurationError, OpsConfig
from celery_ops.signals.tasks import received_event
from celery_ops.store import Store, redact_url

if TYPE_CHECKING:
    # Loaded on first use (operations, _wire): a producer that only records never needs them.
    from celery_ops.operations import Operations, Services
    from celery_ops.operations.schedules import ScheduleOperations

_extensions: weakref.WeakKeyDictionary[Any, CeleryOps] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
logger = logging.getLogger("celery_ops")

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
#: Longest wait for the record of a task just sent (a slow store must not hang the page).
SETTLE_TIMEOUT = 2.0
#: A bulk operation that ends within this many seconds answers at once (else: a job id).
JOB_INLINE_SECONDS = 1.0

#: The lost-work reaper, in the audit log.
REAPER = Actor.system("reaper")
MONITOR = Actor.system("monitor")
ALERTS = Actor.system("alerts")
#: Seconds between two samples of the queues (one a minute is kept, whoever takes it).
SAMPLE_INTERVAL = 60.0


class CeleryOps:
    """celery-ops for one Celery app: its settings, and the parts built from them.

    Everything is created on first use, after the app's configuration is loaded, so
    :func:`init_app` may be called as soon as the app exists.
    """

    def __init__(self, app: Any, overrides: dict[str, Any], clock: Clock = SYSTEM_CLOCK) -> None:
        self.app = app
        self.clock = clock
        self._overrides = overrides
        self._config: OpsConfig | None = None
        self._store: Store | None = None
        self._recorder: ExecutionRecorder | None = None
        self._received_handoff: ReceivedHandoff | None = None
        self._services: Services | None = None
        self._reaper_started = False
        self._monitoring_started = False
        self._ingester_stop: threading.Event | None = None
        self._flow_state: FlowState | None = None
        self._lock = threading.RLock()
        #: The worker node name, in a worker's processes.
        self.hostname: str | None = None

    @property
    def config(self) -> OpsConfig:
        if self._config is None:
            self._config = OpsConfig.resolve(self.app.conf, self._overrides)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = Store(self.config.database_url)
        return self._store

    @property
    def recorder(self) -> ExecutionRecorder:
        if self._recorder is None:
            with self._lock:
                if self._recorder is None:
                    recorder = ExecutionRecorder(self.config, self.store, self._relay_sink())
                    # In a pool child the worker's name was learnt before the fork.
                    recorder.hostname = self.hostname
                    recorder.on_batches_ended = self._settle_batches
                    atexit.register(recorder.close)
                    self._recorder = recorder
        return self._recorder

    @property
    def relaying(self) -> bool:
        """Whether this app's processes hand their batches to the relay stream."""
        return self.config.write_mode == "relay"

    def relay_stream(self) -> RedisStream | BrokerQueueStream:
        """The relay stream on the app's broker: a Redis stream on Redis, a durable queue on
        RabbitMQ; ConfigurationError for a broker that can carry neither."""
        url = self._broker_url()
        if url.startswith(_REDIS_SCHEMES):
            return RedisStream(url, self.config.relay_stream)
        if url.startswith(("amqp://", "amqps://", "pyamqp://")):
            return BrokerQueueStream(url, self.config.relay_stream)
        raise ConfigurationError(
            f"ops_write_mode='relay' needs a Redis or RabbitMQ broker (the stream lives "
            f"there); the broker is {redact_url(url) or 'not set'}: use ops_write_mode='direct'"
        )

    @property
    def flow_state(self) -> FlowState:
        """Where unique claims and limit admissions are decided (celery_ops.recording.flow):
        the store, or in relay mode on a Redis broker the broker."""
        if self._flow_state is None:
            with self._lock:
                if self._flow_state is None:
                    self._flow_state = self._new_flow_state()
        return self._flow_state

    def _new_flow_state(self) -> FlowState:
        if not self.relaying:
            return StoreFlowState(self.store)
        url = self._broker_url()
        if url.startswith(_REDIS_SCHEMES):
            try:
                return RedisFlowState(url, self.config.relay_stream)
            except FlowUnavailable as exc:
                logger.error("celery-ops: %s", exc)
        # Unique claims still work (from the store); limits cannot without a connection
        # in every pool process.
        return StoreFlowState(self.store, enforces_limits=False)

    def _broker_url(self) -> str:
        url = self.app.conf.broker_url
        if isinstance(url, list | tuple):
            url = url[0] if url else None
        return str(url or "")

    def _relay_sink(self) -> RelaySink | None:
        if not self.relaying:
            return None
        try:
            stream = self.relay_stream()
        except (ConfigurationError, StreamUnavailable) as exc:
            # Never lose the record over a setting: write directly, and say so loudly.
            logger.error("celery-ops: %s; writing to the store directly", exc)
            return None
        return RelaySink(stream, SpillDirectory(self.config.spill_dir))

    def _relay_backlog(self) -> Callable[[], StreamBacklog] | None:
        try:
            stream = self.relay_stream()
        except ConfigurationError:
            return None
        return lambda: stream.backlog(int(time.time() * 1000))

    def ingester(self, consumer: str) -> Ingester:
        """An ingester of the relay stream, named ``consumer`` in the stream's group."""
        claim_after_ms = int(self.config.relay_claim_after * 1000)
        ingester = Ingester(self.store, self.relay_stream(), consumer, claim_after_ms)
        ingester.on_batches_ended = self._settle_batches
        flow = self.flow_state
        if isinstance(flow, RedisFlowState):
            ingester.on_written = flow.settle
            ingester.on_tick = self._copy_limits_to(flow)
        return ingester

    def _copy_limits_to(self, flow: RedisFlowState) -> Callable[[], None]:
        """What an ingester does every few seconds for limits in relay mode: seed them from
        the settings (first time), then copy them to Redis for the pool processes."""
        seeded = False

        def copy_limits() -> None:
            nonlocal seeded
            if not seeded:
                self.operations(Actor.system("ingester")).limits.sync_config()
                seeded = True
            flow.copy_limits(self.store.limits.all())

        return copy_limits

    def _settle_batches(self, batch_ids: list[str]) -> object:
        """Send the callbacks the batches of members just written call for (each once)."""
        return self.operations(Actor.system("batches")).batches.settle(batch_ids)

    def start_ingester(self) -> None:
        """In relay mode, ingest in this worker's main process while it holds the cluster's
        lease (ops_ingest_in_workers); the lost-work reaper runs there too."""
        if not (self.relaying and self.config.ingest_in_workers) or self._ingester_stop:
            return
        holder = f"{self.hostname or socket.gethostname()}:{os.getpid()}"
        try:
            ingester = self.ingester(holder)
        except ConfigurationError:
            return  # said when the recorder was built
        stop = self._ingester_stop = threading.Event()
        thread = threading.Thread(
            target=run_under_lease,
            args=(ingester, holder, stop, self.reap_lost_work),
            name="celery-ops-ingester",
            daemon=True,
        )
        thread.start()

    def stop_ingester(self) -> None:
        if self._ingester_stop is not None:
            self._ingester_stop.set()

    @property
    def received_handoff(self) -> ReceivedHandoff:
        """RECEIVED events a worker's main process holds back (celery_ops.recording.handoff)."""
        if self._received_handoff is None:
            with self._lock:
                if self._received_handoff is None:
                    recorder = self.recorder

                    def record_received(request: Any, at: float) -> None:
                        recorder.record(received_event(request.id, request.request_dict, at))

                    delay = self.config.received_delay
                    handoff = ReceivedHandoff(delay, record_received, self.config.buffer_max)
                    recorder.add_periodic(delay / 4, handoff.release_due)
                    self._received_handoff = handoff
        return self._received_handoff

    @property
    def has_received_handoff(self) -> bool:
        return self._received_handoff is not None

    @property
    def services(self) -> Services:
        """What every operation works with."""
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = self._wire()
        return self._services

    def operations(self, actor: Actor) -> Operations:
        """The operations layer, for ``actor``: every action goes through it."""
        from celery_ops.operations.door import Operations

        return Operations(self.services, actor)

    @property
    def schedules(self) -> ScheduleOperations:
        """Create, change and trigger the schedules that DatabaseScheduler fires, from your
        own code (audited as ``python:<os user>@<host>``)."""
        return self.operations(Actor.code()).schedules

    def paused_queues(self) -> set[str]:
        """The names of the paused queues, as every worker reads them before consuming."""
        try:
            return {pause.name for pause in self.store.queues.pauses()}
        finally:
            if self.relaying:
                # A relay-mode worker keeps no store connection (the lease holder's
                # ingester opens its own again): close the one this read used.
                self.store.dispose()

    def start_reaper(self) -> None:
        """Run the lost-work reaper in this process, on the recorder's thread."""
        if self._reaper_started or self.relaying:
            return  # in relay mode the ingester holding the lease reaps (start_ingester)
        self._reaper_started = True
        self.recorder.add_periodic(self.config.reaper_interval, self.reap_lost_work)

    def start_monitoring(self) -> None:
        """Sample the queues once a minute and evaluate the alert rules in this process (beat
        and the dashboard do, each able to do it alone: the first sample of a minute is kept,
        each alert is raised and sent once), on the recorder's thread."""
        if self._monitoring_started:
            return
        self._monitoring_started = True
        self.recorder.add_periodic(SAMPLE_INTERVAL, self.sample_queues)
        if self.config.alerts:
            self.recorder.add_periodic(self.config.alerts_interval, self.run_alerts)

    def sample_queues(self) -> None:
        if self._recorder is not None and not self._recorder.healthy:
            return  # the store is unreachable: the recorder already says so
        self.operations(MONITOR).metrics.sample_queues()

    def run_alerts(self) -> None:
        """Evaluate the alert rules (when this process holds the lease) and send what is due."""
        if self._recorder is not None and not self._recorder.healthy:
            return
        alerts = self.operations(ALERTS).alerts
        raised = alerts.evaluate()
        sent = alerts.deliver()
        if raised or sent:
            logger.info("celery-ops: %d alert(s) raised, %d sent", raised, sent)

    def reap_lost_work(self) -> None:
        # While this process cannot write, its own heartbeats are stale too: judge no one.
        if self._recorder is not None and not self._recorder.healthy:
            return
        result = self.operations(REAPER).maintenance.reap_lost_work()
        if result.changed:
            logger.warning(
                "celery-ops: %d worker(s) stopped heartbeating; %d running execution(s) "
                "marked LOST",
                result.workers_offline,
                result.executions_lost,
            )

    def _wire(self) -> Services:
        from celery_ops.operations.audit import AuditTrail
        from celery_ops.operations.broker import CeleryBroker
        from celery_ops.operations.control import WorkerControl
        from celery_ops.operations.jobs import JobRunner
        from celery_ops.operations.services import Services

        store = self.store
        audit = AuditTrail(store.audit, self.clock)
        app = self.app

        def publish(request: SendRequest, task_id: str) -> str:
            result = app.send_task(
                request.task, request.args, request.kwargs, task_id=task_id, **request.options
            )
            return str(result.id)

        def settle() -> None:
            # Write what this process just sent, so that the operator who sent it can open
            # it at once (the recorder otherwise writes within ops_flush_interval).
            self.recorder.flush(timeout=SETTLE_TIMEOUT)

        return Services(
            store=store,
            broker=CeleryBroker(app),
            control=WorkerControl(app, self.config.inspect_timeout),
            audit=audit,
            jobs=JobRunner(store.jobs, audit, self.clock, JOB_INLINE_SECONDS),
            clock=self.clock,
            config=self.config,
            settle=settle,
            relay_backlog=self._relay_backlog() if self.relaying else None,
            recorder_health=lambda: self.recorder.health(),
            sender=ScheduleSender(
                publish,
                f"manual:{socket.gethostname()}:{os.getpid()}",
                self.config.beat_claim_timeout,
                self.clock,
            ),
        )


def init_app(app: Any, database_url: str | None = None, **settings: Any) -> CeleryOps:
    """Record every task execution of ``app`` (and only of ``app``) in the celery-ops store.

    Settings are those of :mod:`celery_ops.settings` without their ``ops_`` prefix, e.g.
    ``init_app(app, flush_interval=0.2)``; they win over ``app.conf``. Calling it twice for
    the same app returns the same object.
    """
    with _lock:
        existing = _extensions.get(app)
        if existing is not None:
            return existing
        overrides = dict(settings)
        if database_url is not None:
            overrides["database_url"] = database_url
        overrides = {key.removeprefix("ops_"): value for key, value in overrides.items()}
        OpsConfig.resolve({}, overrides)  # a bad keyword fails here, not in a worker later
        ops = CeleryOps(app, overrides)
        signals.connect(ops)
        _extensions[app] = ops
        return ops


def get_ops(app: Any) -> CeleryOps:
    """The :class:`CeleryOps` of ``app``; raises if :func:`init_app` was not called for it."""
    ops = _extensions.get(app)
    if ops is None:
        raise LookupError(
            "celery-ops is not set up for this Celery app: call celery_ops.init_app(app) "
            "where the app is created"
        )
    return ops
