"""CMDB pages: search, a CI with its history and drawn neighbourhood, the impact what-if."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from flywheel.auth.roles import Permission
from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.vocabulary import CI_KEY_PATTERN
from flywheel.errors import InvalidInput, NotFound
from flywheel.http.deps import DbSession
from flywheel.web import graph_svg
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import Panel, Section, console_router
from flywheel.web.security import Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.CMDB_READ)]
PAGE_SIZE = 50
NEIGHBOURS = 400
MAX_WHAT_IF_KEYS = 200
_KEY = re.compile(CI_KEY_PATTERN)


@router.get("/cmdb")
def search(
    request: Request,
    session: DbSession,
    viewer: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """CIs whose key starts with the query, optionally of one type."""
    query, ci_type = q.strip(), type.strip()
    types = cmdb_service.list_types(session)
    error = ""
    if ci_type and ci_type not in {t.name for t in types}:
        error = f"unknown CI type '{ci_type}'"
    found = (
        []
        if error
        else cmdb_service.list_cis(
            session,
            ci_type=ci_type or None,
            key_prefix=query or None,
            after_id=after,
            limit=PAGE_SIZE,
        )
    )
    if len(found) == 1 and found[0].key == query and not after:
        return redirect(request, f"/cmdb/ci/{found[0].key}")
    return render(
        request,
        "cmdb/search.html",
        status=422 if error else 200,
        error=error,
        title="Configuration items",
        cis=found,
        q=query,
        ci_type=ci_type,
        types=types,
        more=found[-1].id if len(found) == PAGE_SIZE else None,
    )


def _neighbourhood(session: Session, key: str, ci_type: str, name: str) -> Any:
    links = cmdb_service.relationships_of(session, key=key, limit=NEIGHBOURS)
    incoming = [(rel.type, source) for rel, source, target in links if target == key]
    kinds = {c.key: c.type for c in cmdb_service.get_cis(session, keys=[s for _, s in incoming])}
    needed_by = [graph_svg.Neighbour(s, kinds.get(s, "ci"), rel) for rel, s in incoming]
    report = cmdb_service.dependencies(session, key=key, max_depth=2)
    direct = {d.key for d in report.dependencies if d.depth == 1}
    types = {d.key: d.type for d in report.dependencies}
    needs = [
        graph_svg.Neighbour(e.target, types.get(e.target, "ci"), e.type)
        for e in report.edges
        if e.source == key and e.target in direct
    ]
    second = [
        graph_svg.Edge(e.source, e.target, e.type)
        for e in report.edges
        if e.source in direct and e.target != key
    ]
    centre = graph_svg.Node(key, ci_type, name)
    columns, edges = graph_svg.layout(centre, needed_by, needs, second, types)
    title = f"{key}: {len(needed_by)} CIs need it, it needs {len(report.dependencies)}"
    return graph_svg.draw(columns, edges, title=title), len(links) >= NEIGHBOURS


@router.get("/cmdb/ci/{key}")
def ci_page(request: Request, key: str, session: DbSession, viewer: Reader) -> Response:
    """A CI: attributes, relationships drawn, what its failure would do, history."""
    ci = cmdb_service.get_ci(session, key=key)
    graph, truncated = _neighbourhood(session, ci.key, ci.type, ci.name)
    return render(
        request,
        "cmdb/ci.html",
        title=f"{ci.key} ({ci.type})",
        ci=ci,
        graph=graph,
        truncated=truncated,
        impact=cmdb_service.impact(session, keys=[ci.key], top_tenants=5),
        history=cmdb_service.history(session, key=ci.key, limit=50),
    )


def parse_keys(text: str) -> list[str]:
    """CI keys from a text box (commas, spaces or lines between them); InvalidInput if bad."""
    keys = [k for k in re.split(r"[\s,]+", text.strip()) if k]
    if not keys:
        raise InvalidInput("name at least one CI key")
    if len(keys) > MAX_WHAT_IF_KEYS:
        raise InvalidInput(f"at most {MAX_WHAT_IF_KEYS} CIs at once (got {len(keys)})")
    bad = [k for k in keys if not _KEY.match(k)]
    if bad:
        raise InvalidInput(f"not a CI key: {', '.join(repr(k) for k in bad[:5])}")
    return list(dict.fromkeys(keys))


@router.get("/cmdb/what-if")
def what_if(
    request: Request,
    session: DbSession,
    viewer: Reader,
    keys: Annotated[str, Query(max_length=20_000)] = "",
) -> Response:
    """What would fail, and for whom, if these CIs failed together."""
    report, error = None, ""
    if keys.strip():
        try:
            report = cmdb_service.impact(session, keys=parse_keys(keys), top_tenants=20)
        except (InvalidInput, NotFound) as exc:
            error = exc.message
    return render(
        request,
        "cmdb/what_if.html",
        status=422 if error else 200,
        error=error,
        title="Impact what-if",
        keys=keys,
        report=report,
    )


def _services(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    found = cmdb_service.list_cis(session, ci_type="business_service", limit=200)
    return {"services": sorted(found, key=lambda c: (c.criticality, c.key))}


SECTION = Section(
    label="CMDB",
    path="/cmdb",
    router=router,
    permission=Permission.CMDB_READ,
    panels=(
        Panel(
            "Business services",
            "cmdb/_services_panel.html",
            _services,
            permission=Permission.CMDB_READ,
            order=10,
        ),
    ),
)
