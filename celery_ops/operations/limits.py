"""Cluster-wide limits of task types: read them, set them live, remove them, seed them from
the settings. Workers read them every few seconds (``celery_ops.signals.limits``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from celery_ops.core.errors import InvalidInput
from celery_ops.core.limits import TaskLimit, parse_concurrency, parse_key, parse_rate
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.requests import checked_identifier
from celery_ops.operations.services import OperationGroup

#: What a live edit may say.
FIELDS = frozenset({"rate", "concurrency", "key"})


class LimitOperations(OperationGroup):
    def all(self) -> list[TaskLimit]:
        """Every task type with a limit, by name."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.limits.all()

    def get(self, task_name: str) -> TaskLimit:
        """One task type's limits (none set: a limit that limits nothing)."""
        checked_identifier(task_name, "a task name")
        found = {limit.task_name: limit for limit in self.all()}
        return found.get(task_name, TaskLimit(task_name))

    def set(self, task_name: str, change: Mapping[str, Any]) -> TaskLimit:
        """``{"rate": "10/s", "key": [...]}`` or ``{"concurrency": 2, "key": [...]}``: set
        (or, with null, remove) that part of the task's limits; the other part stays. Wins
        over the settings from now on."""
        targets = {"task": task_name, **{k: change.get(k) for k in FIELDS if k in change}}
        with self._operation("limit-set", targets, OPERATOR) as audited:
            checked_identifier(task_name, "a task name")
            if not isinstance(change, Mapping):
                raise InvalidInput('send a JSON object: {"rate": "10/s"} or {"concurrency": 2}')
            unknown = sorted(set(change) - FIELDS)
            if unknown:
                raise InvalidInput(
                    f"unknown field(s) {', '.join(unknown)}: use rate, concurrency, key"
                )
            if ("rate" in change) == ("concurrency" in change):
                raise InvalidInput('give one of "rate" (e.g. "10/s") or "concurrency" (e.g. 2)')
            key = parse_key(change.get("key"))
            limit = self._current(task_name)
            if "rate" in change:
                rate = None if change["rate"] is None else parse_rate(change["rate"])
                limit = replace(limit, rate=rate, rate_key=key if rate else ())
            else:
                count = change["concurrency"]
                concurrency = None if count is None else parse_concurrency(count)
                limit = replace(
                    limit,
                    concurrency=concurrency,
                    concurrency_key=key if concurrency else (),
                )
            self._put(limit, audited.commit)
            return limit

    def remove(self, task_name: str) -> None:
        """End both limits of a task type; the settings do not bring them back."""
        with self._operation("limit-delete", {"task": task_name}, OPERATOR) as audited:
            checked_identifier(task_name, "a task name")
            self._put(TaskLimit(task_name), audited.commit)

    def sync_config(self) -> list[str]:
        """Write ``ops_rate_limits`` and ``ops_concurrency_limits`` where nobody edited the
        limits live; audited when it changed something. The task names changed."""
        config = self._services.config
        configured: dict[str, TaskLimit] = {}
        for name, limit in config.rate_limits.items():
            configured[name] = replace(
                configured.get(name, limit), rate=limit.rate, rate_key=limit.rate_key
            )
        for name, limit in config.concurrency_limits.items():
            configured[name] = replace(
                configured.get(name, limit),
                concurrency=limit.concurrency,
                concurrency_key=limit.concurrency_key,
            )
        with self._operation("limit-sync", {"source": "config"}, OPERATOR) as audited:
            with store_errors():
                changed = self._services.store.limits.seed(
                    configured, self._services.clock.now(), self.actor.name
                )
            audited.targets["changed"] = changed
            if not changed:
                audited.nothing_happened()
        return changed

    def _current(self, task_name: str) -> TaskLimit:
        with store_errors():
            found = {limit.task_name: limit for limit in self._services.store.limits.all()}
        return found.get(task_name, TaskLimit(task_name))

    def _put(self, limit: TaskLimit, commit: Any) -> None:
        limits = self._services.store.limits
        now, by = self._services.clock.now(), self.actor.name
        with store_errors():
            commit(lambda entry: limits.put(limit, now, by, entry))
