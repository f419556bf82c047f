"""The API's JSON is standard JSON (celery_ops.core.standard_json): what the store holds by
accident is never sent as ``NaN`` or ``Infinity``."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from celery_ops.core import standard_json


class StandardJSONProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return standard_json.dumps(obj, **kwargs)
