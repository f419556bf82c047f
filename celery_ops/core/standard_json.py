"""Standard JSON out of values the store may hold: a float that is not finite (written by
plain SQL, say) becomes ``null``, never ``NaN`` or ``Infinity``, which strict readers refuse."""

from __future__ import annotations

import json
import math
from typing import Any


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes ``NaN`` or ``Infinity``."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        # Rare: walk the value once more, replacing what JSON cannot say.
        return json.dumps(finite(value), allow_nan=False, **kwargs)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float, however deep, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value
