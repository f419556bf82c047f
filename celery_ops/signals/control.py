"""What a worker's main process does for the operations layer: answer one broadcast with
everything the workers pages show, and keep paused queues paused.

Three remote-control commands, registered in Celery's (process-global) control panel when
celery-ops is imported:

- ``ops_report``: ``stats``, ``active``, ``reserved``, ``scheduled``, ``registered``,
  ``active_queues`` and ``conf`` in one reply (one round trip instead of seven), plus the
  load average and the queues this worker leaves alone because they are paused;
- ``ops_pause_queue`` / ``ops_resume_queue``: stop (start again) consuming a queue, only if
  this worker consumes it (or consumed it before the pause): a resume never makes a worker
  take a queue it was not started with.

A consumer bootstep (:func:`paused_queues_step`) reads the paused queues from the store after
the task consumer is built and before it starts consuming, so a worker started or restarted
during a pause does not take a single message of a paused queue. In direct write mode the
worker reads them again at each heartbeat, which closes the window between that read and its
remote-control mailbox being ready.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import bootsteps
from celery.worker.control import Panel, control_command, inspect_command

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost

logger = logging.getLogger("celery_ops.signals")

#: What ``ops_report`` gathers: its key, Celery's inspect command and that command's arguments.
REPORT_PARTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("stats", "stats", {}),
    ("active", "active", {"safe": True}),
    ("reserved", "reserved", {}),
    ("scheduled", "scheduled", {}),
    ("registered", "registered", {}),
    ("active_queues", "active_queues", {}),
    ("conf", "conf", {}),
)


class PausedQueues:
    """The paused queues of one app, as one worker applies them.

    ``held`` are the queues this worker would consume but does not, because they are paused;
    everything that changes the consumer runs on the consumer's own thread.
    """

    def __init__(self, read_paused: Callable[[], set[str]]) -> None:
        self.read_paused = read_paused
        self.held: set[str] = set()
        self.consumer: Any = None
        self._lock = threading.Lock()

    def at_consumer_start(self, consumer: Any) -> None:
        """Before the consumer consumes anything: leave out the paused queues, and take back
        those resumed while this worker was away."""
        self.consumer = consumer
        try:
            paused = self.read_paused()
        except Exception as exc:
            logger.warning(
                "celery-ops: could not read the paused queues (%s); consuming every queue "
                "this worker was started with until the store answers",
                exc,
            )
            return
        self._apply(consumer, paused, starting=True)

    def refresh(self) -> None:
        """Read the paused queues again (a heartbeat) and apply them on the consumer's thread."""
        consumer = self.consumer
        if consumer is None or getattr(consumer, "task_consumer", None) is None:
            return
        try:
            paused = self.read_paused()
        except Exception:
            return  # the recorder already says the store is down
        consumer.call_soon(self._apply, consumer, paused, False)

    def pause(self, consumer: Any, queue: str) -> dict[str, str]:
        if queue in self.held:
            return {"ok": f"already not consuming {queue} (paused)"}
        if queue not in _consumed(consumer):
            return {"ok": f"not consuming {queue}"}
        with self._lock:
            self.held.add(queue)
        consumer.call_soon(consumer.cancel_task_queue, queue)
        return {"ok": f"stopped consuming {queue}"}

    def resume(self, consumer: Any, queue: str) -> dict[str, str]:
        if queue not in self.held:
            return {"ok": f"was not holding {queue} back"}
        with self._lock:
            self.held.discard(queue)
        consumer.call_soon(consumer.add_task_queue, queue)
        return {"ok": f"consuming {queue} again"}

    def _apply(self, consumer: Any, paused: set[str], starting: bool) -> None:
        with self._lock:
            for queue in sorted(paused & _consumed(consumer)):
                self.held.add(queue)
                consumer.cancel_task_queue(queue)
                logger.warning("celery-ops: queue %s is paused: not consuming it", queue)
            for queue in sorted(self.held - paused):
                self.held.discard(queue)
                if starting:
                    # Not consuming yet: add it to the queues the event loop will consume.
                    queues = consumer.app.amqp.queues
                    consumer.task_consumer.add_queue(queues.select_add(queues[queue]))
                else:
                    consumer.add_task_queue(queue)
                logger.info("celery-ops: queue %s was resumed: consuming it again", queue)


def _consumed(consumer: Any) -> set[str]:
    task_consumer = getattr(consumer, "task_consumer", None)
    if task_consumer is None:
        return set()
    return {queue.name for queue in list(task_consumer.queues)}


#: Each app's PausedQueues, for the remote-control commands (which only see the app).
_keepers: weakref.WeakKeyDictionary[Any, PausedQueues] = weakref.WeakKeyDictionary()


def paused_queues_step(host: RecordingHost) -> type[bootsteps.StartStopStep]:
    """The consumer bootstep of ``host.app``: see the module's documentation."""
    keeper = PausedQueues(host.paused_queues)
    _keepers[host.app] = keeper

    class PausedQueuesStep(bootsteps.StartStopStep):  # type: ignore[misc]
        """Leave paused queues out before the task consumer starts consuming."""

        # After the task consumer is built; the event loop, which starts consuming, is last.
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def start(self, consumer: Any) -> None:
            if consumer.app is host.app:
                keeper.at_consumer_start(consumer)

    return PausedQueuesStep


def keeper_of(app: Any) -> PausedQueues | None:
    return _keepers.get(app)


@inspect_command(name="ops_report")  # type: ignore[untyped-decorator]
def ops_report(state: Any, **_: Any) -> dict[str, Any]:
    """Everything the celery-ops workers pages show, in one reply."""
    report: dict[str, Any] = {}
    for key, command, arguments in REPORT_PARTS:
        try:
            report[key] = Panel.data[command](state, **arguments)
        except Exception as exc:  # one part failing must not cost the others
            report[key] = None
            report.setdefault("errors", {})[key] = repr(exc)
    try:
        report["loadavg"] = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        report["loadavg"] = None
    keeper = keeper_of(state.app)
    report["paused"] = sorted(keeper.held) if keeper else []
    return report


@control_command(name="ops_pause_queue", args=[("queue", str)])  # type: ignore[untyped-decorator]
def ops_pause_queue(state: Any, queue: str, **_: Any) -> dict[str, str]:
    """Stop consuming ``queue`` because it is paused (celery-ops)."""
    keeper = keeper_of(state.app)
    if keeper is None:
        return {"error": "celery-ops is not set up in this worker's app"}
    return keeper.pause(state.consumer, queue)


@control_command(name="ops_resume_queue", args=[("queue", str)])  # type: ignore[untyped-decorator]
def ops_resume_queue(state: Any, queue: str, **_: Any) -> dict[str, str]:
    """Consume ``queue`` again if it was held back by a pause (celery-ops)."""
    keeper = keeper_of(state.app)
    if keeper is None:
        return {"error": "celery-ops is not set up in this worker's app"}
    return keeper.resume(state.consumer, queue)
