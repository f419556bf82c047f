"""`Operations`: the door opened for one actor, with each part of the product's operations."""

from __future__ import annotations

from celery_ops.operations.accounts import AccountOperations
from celery_ops.operations.actors import Actor
from celery_ops.operations.alerts import AlertOperations
from celery_ops.operations.auditlog import AuditLog
from celery_ops.operations.executions import ExecutionOperations
from celery_ops.operations.exports import ExportOperations
from celery_ops.operations.health import HealthOperations
from celery_ops.operations.limits import LimitOperations
from celery_ops.operations.maintenance import MaintenanceOperations
from celery_ops.operations.metrics import MetricOperations
from celery_ops.operations.queues import QueueOperations
from celery_ops.operations.schedules import ScheduleOperations
from celery_ops.operations.services import Services
from celery_ops.operations.task_batches import BatchOperations
from celery_ops.operations.tasks import TaskOperations
from celery_ops.operations.workers import WorkerOperations


class Operations:
    """Every operation, for one actor."""

    def __init__(self, services: Services, actor: Actor) -> None:
        self.services = services
        self.actor = actor

    @property
    def executions(self) -> ExecutionOperations:
        return ExecutionOperations(self.services, self.actor)

    @property
    def exports(self) -> ExportOperations:
        return ExportOperations(self.services, self.actor)

    @property
    def schedules(self) -> ScheduleOperations:
        return ScheduleOperations(self.services, self.actor)

    @property
    def accounts(self) -> AccountOperations:
        return AccountOperations(self.services, self.actor)

    @property
    def queues(self) -> QueueOperations:
        return QueueOperations(self.services, self.actor)

    @property
    def workers(self) -> WorkerOperations:
        return WorkerOperations(self.services, self.actor)

    @property
    def tasks(self) -> TaskOperations:
        return TaskOperations(self.services, self.actor)

    @property
    def alerts(self) -> AlertOperations:
        return AlertOperations(self.services, self.actor)

    @property
    def health(self) -> HealthOperations:
        return HealthOperations(self.services, self.actor)

    @property
    def metrics(self) -> MetricOperations:
        return MetricOperations(self.services, self.actor)

    @property
    def batches(self) -> BatchOperations:
        return BatchOperations(self.services, self.actor)

    @property
    def limits(self) -> LimitOperations:
        return LimitOperations(self.services, self.actor)

    @property
    def maintenance(self) -> MaintenanceOperations:
        return MaintenanceOperations(self.services, self.actor)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.services, self.actor)
