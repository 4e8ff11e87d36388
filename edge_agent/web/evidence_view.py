"""The technician's view of an alert's evidence: the kept file as it is (people already pixelated when it was taken),
for a logged-in technician on the page only, recorded like a remote fetch (`evidence_sent`, `via: web`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from edge_agent.evidence.desk import EvidenceRefused
from edge_agent.web.responses import error

MEDIA = {"snapshot": "image/jpeg", "clip": "video/x-msvideo"}


async def evidence(request: Request) -> Response:
    """GET /api/evidence/{event_id}?kind=snapshot|clip"""
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in MEDIA:
        return error(400, f"kind: expected snapshot or clip, found {kind[:32]!r}")
    event_id = request.path_params["event_id"]
    agent = request.app.state.context.agent
    try:
        record, data = await run_in_threadpool(agent.show_evidence, event_id, kind, request.state.session.user)
    except EvidenceRefused as exc:
        status = 429 if "too many" in str(exc) else 400 if "event id" in str(exc) else 404
        return error(status, str(exc))
    headers = {"Cache-Control": "no-store", "X-Evidence-SHA256": record.sha256}
    if record.kind == "clip":
        headers["Content-Disposition"] = f'attachment; filename="{record.event_id}.avi"'
    return Response(data, media_type=MEDIA[record.kind], headers=headers)
