"""How much generated input a test tries: a fixed amount, always the same examples, in the
suite; many more, freshly random, when exploring (`scripts/explore.sh`)."""

from __future__ import annotations

import os

#: Set by scripts/explore.sh: the long random run, not the suite.
EXPLORING = os.environ.get("CELERY_OPS_EXPLORE") == "1"
#: How many times more examples an exploring run tries.
EXPLORE_FACTOR = int(os.environ.get("CELERY_OPS_EXPLORE_FACTOR", "40"))


def examples(in_suite: int) -> int:
    """``in_suite`` examples in the suite, EXPLORE_FACTOR times more when exploring."""
    return in_suite * EXPLORE_FACTOR if EXPLORING else in_suite
