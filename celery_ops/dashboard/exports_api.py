"""Exports through the JSON API: start one, follow it, download its file."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, stream_with_context

from celery_ops.core.records import JobRecord
from celery_ops.dashboard.api import api, json_body, signed_in
from celery_ops.dashboard.auth import door


@api.post("/exports")
@signed_in
def start_export() -> tuple[Response, int]:
    accepted = door().exports.start(json_body())
    return jsonify({"id": accepted.job_id}), 202


@api.get("/exports/<export_id>")
@signed_in
def show_export(export_id: str) -> Response:
    return jsonify(export_json(door().exports.get(export_id)))


@api.get("/exports/<export_id>/download")
@signed_in
def download_export(export_id: str) -> Response:
    exported = door().exports.download(export_id)
    return Response(
        stream_with_context(exported.chunks),
        content_type=exported.content_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


def export_json(job: JobRecord) -> dict[str, Any]:
    return {"id": job.id, "status": job.status, "done": job.done, "total": job.total}
