"""A small Celery app that shows celery-ops at work: run it with ``bash scripts/demo.sh``."""
