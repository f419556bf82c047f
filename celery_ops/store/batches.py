"""What one write of the recorder holds: :class:`RecordBatch`, and the worker states in it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from celery_ops.core.lifecycle import ExecutionPatch, merge_patches


@dataclass(slots=True)
class WorkerState:
    hostname: str
    at: datetime
    online: bool
    values: dict[str, Any]
    just_started: bool = False


@dataclass(slots=True)
class RecordBatch:
    """Everything one flush writes, in one transaction."""

    executions: list[ExecutionPatch] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    definitions: list[tuple[str, datetime, list[dict[str, Any]]]] = field(default_factory=list)
    #: Events a worker's processes had to drop, by worker hostname (added to its row).
    dropped: dict[str, int] = field(default_factory=dict)
    #: Executions of unique tasks that started or ended as their task asked: their claims
    #: end with this write.
    released: list[str] = field(default_factory=list)
    #: Executions of limited tasks whose run ended: their concurrency slots are given back.
    freed_slots: list[str] = field(default_factory=list)
    #: Batches (celery_ops.batch) a member of which ended: settled after the write.
    batches_ended: list[str] = field(default_factory=list)

    def absorb(self, other: RecordBatch) -> None:
        """Fold ``other`` into this batch with the rules of one flush: the patches of one task
        from several processes become one row change, whatever order they come in."""
        patches = {patch.task_id: patch for patch in self.executions}
        for patch in other.executions:
            existing = patches.get(patch.task_id)
            if existing is None:
                # A copy: merging into it must leave ``other`` as it was (a batch the store
                # refuses is written again alone, with its own values only).
                existing = replace(patch, values=dict(patch.values))
                patches[patch.task_id] = existing
                self.executions.append(existing)
            else:
                merge_patches(existing, patch)
        self.timeline.extend(other.timeline)
        self.workers.extend(other.workers)
        self.definitions.extend(other.definitions)
        for hostname, count in other.dropped.items():
            self.dropped[hostname] = self.dropped.get(hostname, 0) + count
        self.released.extend(other.released)
        self.freed_slots.extend(other.freed_slots)
        self.batches_ended.extend(other.batches_ended)
