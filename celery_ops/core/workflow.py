"""A workflow (chain, group, chord) as a tree: who sent whom, from the ids Celery stamps on
every message (parent, root, group)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from celery_ops.core.records import Execution


@dataclass(frozen=True, slots=True)
class WorkflowNode:
    execution: Execution
    children: tuple[WorkflowNode, ...] = ()


@dataclass(frozen=True, slots=True)
class Workflow:
    """The executions of one workflow, as trees from the tasks nobody in it sent."""

    roots: tuple[WorkflowNode, ...]
    size: int
    #: Whether the workflow has more executions than were read.
    cut: bool

    def members(self) -> list[Execution]:
        """Every execution of the tree."""
        found, stack = [], list(self.roots)
        while stack:
            node = stack.pop()
            found.append(node.execution)
            stack.extend(node.children)
        return found

    @property
    def statuses(self) -> Counter[str]:
        """How many executions are in each status."""
        return Counter(member.status or "?" for member in self.members())


def build_workflow(rows: list[Execution], limit: int) -> Workflow:
    """The tree of ``rows``: each under its parent when the parent is among them (a task
    that retried itself is not its own child), members of one group in the order sent."""
    by_id = {row.task_id: row for row in rows}
    children: dict[str | None, list[Execution]] = {}
    for row in rows:
        parent = row.parent_id if row.parent_id in by_id and row.parent_id != row.task_id else None
        children.setdefault(parent, []).append(row)

    def node(row: Execution, seen: frozenset[str]) -> WorkflowNode:
        below = [child for child in children.get(row.task_id, []) if child.task_id not in seen]
        inner = seen | {row.task_id}
        return WorkflowNode(row, tuple(node(child, inner) for child in _ordered(below)))

    roots = tuple(node(row, frozenset()) for row in _ordered(children.get(None, [])))
    return Workflow(roots, len(rows), len(rows) >= limit)


def _ordered(rows: list[Execution]) -> list[Execution]:
    return sorted(rows, key=lambda row: row.id)
