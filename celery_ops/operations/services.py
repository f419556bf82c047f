"""What the operations work with, wired once per app by the extension."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from celery_ops.core.clock import Clock
from celery_ops.core.errors import Denied
from celery_ops.operations.actors import Actor
from celery_ops.operations.audit import Audited, AuditTrail
from celery_ops.operations.broker import CeleryBroker
from celery_ops.operations.control import WorkerControl
from celery_ops.operations.jobs import JobRunner
from celery_ops.operations.notify import AppriseNotifier, Notifier
from celery_ops.recording.recorder import RecorderHealth
from celery_ops.recording.streams import StreamBacklog
from celery_ops.scheduling.sending import ScheduleSender
from celery_ops.settings import OpsConfig
from celery_ops.store import Store


@dataclass(frozen=True)
class Services:
    """The collaborators of every operation of one app."""

    store: Store
    broker: CeleryBroker
    #: The workers' remote control.
    control: WorkerControl
    audit: AuditTrail
    jobs: JobRunner
    clock: Clock
    config: OpsConfig
    #: Writes what this process recorded so far (so an operator can open what was just sent).
    settle: Callable[[], None]
    #: The claim/send/mark path of beat, for "run now".
    sender: ScheduleSender
    #: In relay mode, how far the ingesters are behind (raises StreamUnavailable); else None.
    relay_backlog: Callable[[], StreamBacklog] | None = None
    #: Where alerts go out (Apprise).
    notifier: Notifier = field(default_factory=AppriseNotifier)
    #: This process's recorder, as its metrics show it.
    recorder_health: Callable[[], RecorderHealth] | None = None


class OperationGroup:
    """Operations on one kind of thing, done for one actor."""

    def __init__(self, services: Services, actor: Actor) -> None:
        self._services = services
        self.actor = actor

    def _require(self, role: str) -> None:
        """For reads: refuse (without an audit row) unless the actor holds ``role``."""
        if not self.actor.may(role):
            raise Denied(f"this needs the {role} role")

    def _operation(
        self, action: str, targets: dict[str, Any], role: str
    ) -> AbstractContextManager[Audited]:
        """For changes: check ``role``, run, and write one audit row."""
        return self._services.audit.operation(self.actor, action, targets, role)
