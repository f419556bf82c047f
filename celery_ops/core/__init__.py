"""The vocabulary every layer shares: the clock, durations, statuses and their rules, the
typed rows the store returns, the execution filter and the errors of operations. Pure:
no database, no Celery, no web."""
