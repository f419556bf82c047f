"""The dashboard's pages: Flask-Admin views over the store, each needing a signed-in user.

They read and act through the operations layer, like the API; none of them pages with
COUNT(*) or OFFSET.
"""

from __future__ import annotations

from flask_admin import Admin

from celery_ops.dashboard.pages.alerts import AlertsView
from celery_ops.dashboard.pages.audit import AuditView
from celery_ops.dashboard.pages.batches import BatchesView
from celery_ops.dashboard.pages.executions import ExecutionsView
from celery_ops.dashboard.pages.failures import FailuresView
from celery_ops.dashboard.pages.home import HomeView
from celery_ops.dashboard.pages.jobs import JobsView
from celery_ops.dashboard.pages.limits import LimitsView
from celery_ops.dashboard.pages.queues import QueuesView
from celery_ops.dashboard.pages.schedules import SchedulesView
from celery_ops.dashboard.pages.tasks import TasksView
from celery_ops.dashboard.pages.users import UsersView
from celery_ops.dashboard.pages.workers import WorkersView


def add_views(admin: Admin) -> None:
    """Every page besides Home, in menu order."""
    admin.add_view(ExecutionsView(name="Executions", endpoint="executions", url="executions"))
    admin.add_view(FailuresView(name="Failures", endpoint="failures", url="failures"))
    admin.add_view(SchedulesView(name="Schedules", endpoint="schedules", url="schedules"))
    admin.add_view(TasksView(name="Tasks", endpoint="tasks", url="tasks"))
    admin.add_view(WorkersView(name="Workers", endpoint="workers", url="workers"))
    admin.add_view(QueuesView(name="Queues", endpoint="queues", url="queues"))
    admin.add_view(LimitsView(name="Limits", endpoint="limits", url="limits"))
    admin.add_view(BatchesView(name="Batches", endpoint="batches", url="batches"))
    admin.add_view(AlertsView(name="Alerts", endpoint="alerts", url="alerts"))
    admin.add_view(AuditView(name="Audit log", endpoint="audit", url="audit"))
    admin.add_view(UsersView(name="Users", endpoint="users", url="users"))
    admin.add_view(JobsView(name="Jobs", endpoint="jobs", url="jobs"))


__all__ = ["HomeView", "add_views"]
