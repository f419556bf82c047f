"""What `pip install .` ships: the migrations and the typing marker, not only the code."""

from __future__ import annotations

from pathlib import Path

from helpers.services import IN_CI

import celery_ops
from celery_ops.store.schema import HEAD_REVISION


def test_the_installed_package_carries_its_migrations_and_py_typed() -> None:
    package = Path(celery_ops.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "store" / "migrations" / "env.py").exists()
    shipped = sorted(p.name for p in (package / "store" / "migrations" / "versions").glob("*.py"))
    # Every revision up to the head, numbered without gaps.
    head = int(HEAD_REVISION)
    assert [name[:4] for name in shipped] == [f"{n:04d}" for n in range(1, head + 1)]
    assert head >= 5


def test_ci_runs_against_the_installed_package_not_the_source_tree() -> None:
    if IN_CI:
        assert "site-packages" in celery_ops.__file__, celery_ops.__file__


def test_the_installed_package_carries_the_vendored_chart_library_and_its_licence() -> None:
    static = Path(celery_ops.__file__).parent / "dashboard" / "static"
    uplot = static / "vendor" / "uplot"
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE", "README.md"):
        assert (uplot / name).stat().st_size > 0, name
    assert "MIT License" in (uplot / "LICENSE").read_text()
    assert (static / "charts.js").exists()
