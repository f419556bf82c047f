"""The operations layer on an app with Celery's in-memory broker and a SQLite store."""

from helpers.door_app import door_app

__all__ = ["door_app"]
