"""`init_app`: add celery-ops to one Celery app."""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Any

from celery_ops import signals
from celery_ops.beat.schedules import Schedules
from celery_ops.config import OpsConfig
from celery_ops.recorder import ExecutionRecorder
from celery_ops.signals.handoff import ReceivedHandoff
from celery_ops.signals.tasks import received_event
from celery_ops.store import Store

_extensions: weakref.WeakKeyDictionary[Any, CeleryOps] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
logger = logging.getLogger("celery_ops")


class CeleryOps:
    """celery-ops for one Celery app: its settings, its store and its recorder.

    Everything is created on first use, after the app's configuration is loaded, so
    :func:`init_app` may be called as soon as the app exists.
    """

    def __init__(self, app: Any, overrides: dict[str, Any]) -> None:
        self.app = app
        self._overrides = overrides
        self._config: OpsConfig | None = None
        self._store: Store | None = None
        self._recorder: ExecutionRecorder | None = None
        self._received_handoff: ReceivedHandoff | None = None
        self._reaper_started = False
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
                    recorder = ExecutionRecorder(self.config, self.store)
                    # In a pool child the worker's name was learnt before the fork.
                    recorder.hostname = self.hostname
                    atexit.register(recorder.close)
                    self._recorder = recorder
        return self._recorder

    @property
    def received_handoff(self) -> ReceivedHandoff:
        """RECEIVED events a worker's main process holds back (celery_ops.signals.handoff)."""
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
    def schedules(self) -> Schedules:
        """Create, change and trigger the schedules that DatabaseScheduler fires."""
        return Schedules(self)

    def start_reaper(self) -> None:
        """Run the lost-work reaper in this process, on the recorder's thread."""
        if self._reaper_started:
            return
        self._reaper_started = True
        self.recorder.add_periodic(self.config.reaper_interval, self.reap_lost_work)

    def reap_lost_work(self) -> None:
        # While this process cannot write, its own heartbeats are stale too: judge no one.
        if self._recorder is not None and not self._recorder.healthy:
            return
        result = self.store.reap_lost_work(self.config.worker_timeout)
        if result.executions_lost or result.workers_offline:
            logger.warning(
                "celery-ops: %d worker(s) stopped heartbeating; %d running execution(s) "
                "marked LOST",
                result.workers_offline,
                result.executions_lost,
            )


def init_app(app: Any, database_url: str | None = None, **settings: Any) -> CeleryOps:
    """Record every task execution of ``app`` (and only of ``app``) in the celery-ops store.

    Settings are the ``ops_*`` keys of :mod:`celery_ops.defaults` without their prefix, e.g.
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
