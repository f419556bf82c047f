"""Schedules as data: their definitions and how they are checked, the due-time arithmetic
(pure, testable with a fixed clock), what beat decides for a due row, and the one path from
a due time to a message (claim, send, mark). ``celery_ops.beat`` runs it in Celery's beat;
``celery_ops.operations.schedules`` changes schedules."""
