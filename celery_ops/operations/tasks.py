"""Task types: what is registered, how each fared lately, and their limits on the workers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from celery_ops.core.errors import NotFound, UnknownTask
from celery_ops.core.records import TaskDefinition
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.control import Answers
from celery_ops.operations.errors import store_errors
from celery_ops.operations.requests import (
    Name,
    RateLimitRequest,
    Request,
    TimeLimitRequest,
    parse,
)
from celery_ops.operations.services import OperationGroup, Services
from celery_ops.operations.workers import online_workers, reported


class TaskOperations(OperationGroup):
    def definitions(self) -> list[TaskDefinition]:
        """Every task registered on a worker, with its defaults."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.definitions()

    def recent_counts(
        self, since: datetime, statuses: tuple[str, ...], sample: int
    ) -> dict[str, dict[str, int]]:
        """Task name -> status -> count over the latest ``sample`` of each status."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.recent_counts(since, statuses, sample)

    def set_rate_limit(self, name: str, request: Mapping[str, Any]) -> Answers:
        """``{"rate": "10/m"}`` (null lifts it) on every worker, or on ``"destination"``.
        Celery applies it per worker: ten workers run ten times the rate."""
        targets = {"task": name, "rate": _get(request, "rate")}
        with self._operation("task-rate-limit", targets, OPERATOR) as audited:
            wanted = parse(RateLimitRequest, request)
            self._check_task(name)
            destination = self._addressed(wanted.destination)
            audited.targets["destination"] = destination
            arguments = {"task_name": name, "rate_limit": wanted.rate}
            answers = self._services.control.command("rate_limit", arguments, destination)
            return reported(audited, answers)

    def set_time_limit(self, name: str, request: Mapping[str, Any]) -> Answers:
        """``{"soft": s, "hard": h}`` seconds on every worker, or on ``"destination"``."""
        targets = {"task": name, "soft": _get(request, "soft"), "hard": _get(request, "hard")}
        with self._operation("task-time-limit", targets, OPERATOR) as audited:
            wanted = parse(TimeLimitRequest, request).checked()
            self._check_task(name)
            destination = self._addressed(wanted.destination)
            audited.targets["destination"] = destination
            arguments = {"task_name": name, "soft": wanted.soft, "hard": wanted.hard}
            answers = self._services.control.command("time_limit", arguments, destination)
            return reported(audited, answers)

    def _addressed(self, given: str | list[str] | None) -> list[str]:
        """The workers to tell: those named, or every online one (by name, so that workers
        of other apps on the same broker are left alone)."""
        if given is not None:
            return [given] if isinstance(given, str) else list(given)
        online = online_workers(self._services)
        if not online:
            raise NotFound("no online worker to tell (none with a recent heartbeat)")
        return online

    def _check_task(self, name: str) -> None:
        parse(_TaskName, {"name": name})
        check_task_known(self._services, name)


def check_task_known(services: Services, name: str) -> None:
    """UnknownTask unless ``name`` is registered in this app or was seen on a worker."""
    if services.broker.knows_task(name):
        return
    with store_errors():
        known = services.store.known_task_names()
    if name not in known:
        raise UnknownTask(
            f"unknown task {name!r}: not registered in this app nor seen on any worker"
        )


class _TaskName(Request):
    name: Name


def _get(request: Mapping[str, Any], key: str) -> Any:
    return request.get(key) if isinstance(request, Mapping) else None
