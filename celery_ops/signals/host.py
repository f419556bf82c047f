"""What the signal handlers need of the app's celery-ops, and nothing more."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from celery_ops.recording.flow import FlowState
from celery_ops.recording.handoff import ReceivedHandoff
from celery_ops.recording.recorder import ExecutionRecorder
from celery_ops.settings import OpsConfig
from celery_ops.store import Store

if TYPE_CHECKING:
    from celery_ops.operations import Actor, Operations


class RecordingHost(Protocol):
    """The app's recorder and the worker's identity (``celery_ops.extension.CeleryOps``)."""

    app: Any
    #: The worker node name, once a worker's main process learnt it.
    hostname: str | None

    @property
    def config(self) -> OpsConfig: ...

    @property
    def recorder(self) -> ExecutionRecorder: ...

    @property
    def store(self) -> Store: ...

    @property
    def relaying(self) -> bool: ...

    @property
    def flow_state(self) -> FlowState: ...

    @property
    def received_handoff(self) -> ReceivedHandoff: ...

    @property
    def has_received_handoff(self) -> bool: ...

    def operations(self, actor: Actor) -> Operations:
        """The door, for ``actor``."""
        ...

    def paused_queues(self) -> set[str]:
        """The names of the paused queues (raises if the store cannot say)."""
        ...

    def start_reaper(self) -> None: ...

    def start_ingester(self) -> None: ...

    def stop_ingester(self) -> None: ...
