"""Audit pages: the searchable trail, the chain's verification, exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from flywheel.audit import service as audit_service
from flywheel.audit.schemas import AuditEventOut
from flywheel.auth.roles import Permission
from flywheel.db import Database, utcnow
from flywheel.errors import InvalidInput
from flywheel.http.deps import DbSession, get_database
from flywheel.web.rendering import render, render_fragment
from flywheel.web.sections import Section, console_router
from flywheel.web.security import Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.AUDIT_READ)]
PAGE_SIZE = 100
FIELDS = ("actor", "action", "object_type", "object_id", "request_id")
Text = Annotated[str, Query(max_length=200)]


def _moment(name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        example = "2026-03-01 or 2026-03-01T12:00"
        raise InvalidInput(f"{name} must be a date or time such as {example}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def audit_filter(values: dict[str, str]) -> audit_service.AuditFilter:
    """The filter the form asks for; InvalidInput naming a bad date."""
    exact = {name: values[name] or None for name in FIELDS}
    return audit_service.AuditFilter(
        **exact,
        since=_moment("from", values["since"]),
        until=_moment("until", values["until"]),
    )


def object_link(object_type: str, object_id: str) -> str | None:
    """The console page of an audited object, where it has one."""
    if object_type == "change" and object_id.startswith("CHG") and object_id[3:].isdigit():
        return f"/changes/{int(object_id[3:])}"
    if object_type == "deployment" and object_id.isdigit():
        return f"/deployments/{object_id}"
    if object_type == "ci":
        return f"/cmdb/ci/{quote(object_id, safe='')}"
    return None


def _values(**given: str) -> dict[str, str]:
    return {name: value.strip() for name, value in given.items()}


@router.get("/audit")
def audit_log(
    request: Request,
    session: DbSession,
    viewer: Reader,
    actor: Text = "",
    action: Text = "",
    object_type: Text = "",
    object_id: Text = "",
    request_id: Text = "",
    since: Text = "",
    until: Text = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Audit events, newest first, filtered; the chain's status is checked by the page."""
    values = _values(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        request_id=request_id,
        since=since,
        until=until,
    )
    error = ""
    try:
        flt = audit_filter(values)
    except InvalidInput as exc:
        error, events = exc.message, []
    else:
        events = audit_service.recent_events(session, flt=flt, before_seq=before, limit=PAGE_SIZE)
    query = urlencode({k: v for k, v in values.items() if v})
    return render(
        request,
        "audit/list.html",
        status=422 if error else 200,
        error=error,
        title="Audit trail",
        events=events,
        values=values,
        query=query,
        more=events[-1].seq if len(events) == PAGE_SIZE else None,
        object_link=object_link,
    )


def chain_status(session: Session) -> dict[str, Any]:
    """Verify the whole chain now; what the status box shows."""
    started = utcnow()
    report = audit_service.verify_chain(session)
    brk = report.first_break
    return {
        "intact": report.intact,
        "checked": report.events_checked,
        "head": report.head_seq,
        "problem": str(brk) if brk else "",
        "at": started,
        "seconds": (utcnow() - started).total_seconds(),
    }


@router.get("/audit/verify")
def verify(
    request: Request, session: DbSession, viewer: Reader, fragment: bool = False
) -> Response:
    """Recompute the hash chain (the audit page loads this box after it is shown)."""
    chain = chain_status(session)
    if fragment:
        html = render_fragment("audit/_chain.html", chain=chain)
        return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})
    return render(request, "audit/verify.html", title="Audit chain verification", chain=chain)


def _rows(db: Database, flt: audit_service.AuditFilter) -> Iterator[dict[str, Any]]:
    with db.session() as session:
        for event in audit_service.iter_events(session, flt=flt):
            yield AuditEventOut.model_validate(event).model_dump(mode="json")


def _jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, sort_keys=True) + "\n"


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@router.get("/audit/export")
def export(
    request: Request,
    viewer: Reader,
    format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl",
    actor: Text = "",
    action: Text = "",
    object_type: Text = "",
    object_id: Text = "",
    request_id: Text = "",
    since: Text = "",
    until: Text = "",
) -> StreamingResponse:
    """The matching events in chain order, with their hashes, as a download."""
    flt = audit_filter(
        _values(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            request_id=request_id,
            since=since,
            until=until,
        )
    )
    rows = _rows(get_database(request), flt)
    body = _csv(rows) if format == "csv" else _jsonl(rows)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    name = f"flywheel-audit-{utcnow():%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


SECTION = Section(label="Audit", path="/audit", router=router, permission=Permission.AUDIT_READ)
