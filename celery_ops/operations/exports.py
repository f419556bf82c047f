"""Exports: what a filter of the executions list matches, as CSV or JSON Lines.

An export is a background job (``celery_ops.operations.jobs``): it reads the matches a page
at a time, writes the file in compressed pieces to the store as it goes (never the whole file
in memory), and says how far it got. Any dashboard process serves the download once it is
done; files are kept a day.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import as_utc
from celery_ops.core.errors import Conflict, InvalidInput, NotFound
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import Execution, JobRecord
from celery_ops.operations.actors import VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.filters import parse_filter
from celery_ops.operations.jobs import DONE, Accepted, JobResult, Progress
from celery_ops.operations.services import OperationGroup, Services

EXPORT = "export"
FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/jsonl", "jsonl")}
#: How long an export's file is kept for its download.
KEPT_FOR = timedelta(days=1)
#: Rows read per query, and the uncompressed size of a stored piece.
ROWS_PER_READ = 1000
PIECE_BYTES = 1024 * 1024
#: Cells a spreadsheet would read as a formula start with these: they get a quote first.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFile:
    """A finished export, ready to stream."""

    filename: str
    content_type: str
    chunks: Iterator[bytes]


class ExportOperations(OperationGroup):
    def start(self, request: Mapping[str, Any]) -> Accepted:
        """Export ``{"filter": {same keys as the list's query}, "format": "csv"|"jsonl"}``
        in the background (audited); the job's id is the export's."""
        with self._operation(EXPORT, {}, VIEWER) as audited:
            if not isinstance(request, Mapping):
                raise InvalidInput("send a JSON object with filter and format")
            unknown = sorted(set(request) - {"filter", "format"})
            if unknown:
                raise InvalidInput(f"unknown field {', '.join(unknown)}: use filter and format")
            kind = request.get("format", "csv")
            if kind not in FORMATS:
                raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, not {kind!r}")
            params = request.get("filter") or {}
            if not isinstance(params, Mapping):
                raise InvalidInput("filter must be an object of list filters")
            where = parse_filter(params)
            audited.targets.update({"format": kind, **where.described()})
            services = self._services
            with store_errors():
                services.store.exports.forget_before(services.clock.now() - KEPT_FOR)
            accepted = services.jobs.start(
                self.actor,
                EXPORT,
                audited.targets,
                lambda progress: _write_export(services, where, kind, progress),
                inline_seconds=0,
            )
            audited.handed_over()
            return accepted

    def get(self, export_id: str) -> JobRecord:
        """An export's job: status, rows done, rows in all."""
        self._require(VIEWER)
        job = self._services.jobs.get(export_id)
        if job.action != EXPORT:
            raise NotFound(f"no export {export_id!r}")
        return job

    def download(self, export_id: str) -> ExportFile:
        """The file of a finished export, streamed a piece at a time."""
        job = self.get(export_id)
        if job.status != DONE:
            raise Conflict(f"export {export_id} is {job.status}: download it once it is done")
        kind = (job.result or {}).get("format", "csv")
        content_type, extension = FORMATS.get(kind, FORMATS["csv"])
        store = self._services.store.exports
        made = job.created_at or self._services.clock.now()
        stamp = as_utc(made).strftime("%Y%m%d-%H%M%S")
        return ExportFile(
            f"executions-{stamp}.{extension}", content_type, _inflated(store.parts(export_id))
        )


def _write_export(
    services: Services, where: ExecutionFilter, kind: str, progress: Progress
) -> JobResult:
    store, export_id = services.store, progress.job_id
    with store_errors():
        progress.expect(store.count_executions(where, None))
    writer = _CsvRows() if kind == "csv" else _JsonRows()
    buffer = io.BytesIO()
    buffer.write(writer.header())
    seq = rows = 0
    before: int | None = None
    while True:
        with store_errors():
            page = store.executions(where, ROWS_PER_READ, before)
        for execution in page:
            buffer.write(writer.row(execution))
        rows += len(page)
        if buffer.tell() >= PIECE_BYTES or len(page) < ROWS_PER_READ:
            with store_errors():
                store.exports.add_part(
                    export_id, seq, zlib.compress(buffer.getvalue(), 6), services.clock.now()
                )
            seq, buffer = seq + 1, io.BytesIO()
        if page:
            progress.advance(len(page))
        if len(page) < ROWS_PER_READ:
            break
        before = page[-1].id
    result = JobResult("exported", rows)
    result.extra["format"] = kind
    return result


def _inflated(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield zlib.decompress(piece)


#: The columns of an export, in order: what an operator sees of an execution.
COLUMNS = tuple(name for name in Execution.__dataclass_fields__ if name not in Execution.HIDDEN)


def _plain(execution: Execution) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(execution, name) for name in COLUMNS}
    progress = execution.reported_progress
    values["progress"] = None if progress is None else progress.as_dict()
    return values


class _CsvRows:
    def header(self) -> bytes:
        return self._line([*COLUMNS, "progress_current", "progress_total", "progress_note"])

    def row(self, execution: Execution) -> bytes:
        values = _plain(execution)
        progress = values.pop("progress") or {}
        cells = [*values.values(), *(progress.get(k) for k in ("current", "total", "note"))]
        return self._line(cells)

    def _line(self, cells: list[Any]) -> bytes:
        out = io.StringIO()
        csv.writer(out).writerow([_cell(value) for value in cells])
        return out.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class _JsonRows:
    def header(self) -> bytes:
        return b""

    def row(self, execution: Execution) -> bytes:
        text = json.dumps(_plain(execution), default=_json_default, ensure_ascii=False)
        return (text + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return str(value)
