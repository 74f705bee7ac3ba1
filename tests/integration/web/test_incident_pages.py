"""Incident pages: list and filters, impact, suspects, and the responder's forms by role."""

from __future__ import annotations

import tempfile
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flywheel.db import Database
from flywheel.deploy.models import Deployment
from flywheel.incident import service as incident_service
from flywheel.release import service as release_service
from flywheel.release.schemas import EnvironmentIn
from tests.factories import (
    SYSTEM,
    am_alert,
    am_payload,
    make_ci,
    make_estate,
    make_held_deployment,
    make_integration,
    relate,
)
from tests.integration.web.conftest import Console, csrf_of
from tests.support import free_port


def _deployable_pool(db: Database) -> None:
    """checkout's pool made deployable (a local driver that runs `true`)."""
    target = {"driver": "local", "state_dir": tempfile.mkdtemp(prefix="fw-web-"), "command": "true"}
    with db.session(write=True) as session:
        make_ci(
            session,
            "checkout-pool",
            "service_pool",
            min_up="0",
            attributes={"deploy": {"target": target}},
        )
        make_ci(session, "checkout-i1", "instance", attributes={"port": free_port()})
        relate(session, "checkout-i1", "member_of", "checkout-pool")
        relate(session, "checkout-app", "depends_on", "checkout-pool")
        release_service.put_environment(
            session, actor=SYSTEM, name="staging", data=EnvironmentIn(rank=1)
        )
        session.commit()


@pytest.fixture
def incident(db: Database, client: TestClient, people: dict[str, str]) -> tuple[int, int]:
    """A P1 on checkout's database, opened after a deployment on checkout: (incident, run)."""
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    _deployable_pool(db)
    run = make_held_deployment(db, pool="checkout-pool")
    token = make_integration(db)
    alert = am_alert("fp-db1", instance="db1", severity="critical")
    sent = client.post(
        "/api/v1/integrations/alertmanager",
        json=am_payload(alert),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sent.status_code == 200, sent.text
    with db.session() as session:
        found = incident_service.list_incidents(session)
    assert len(found) == 1
    return found[0].id, run


def test_the_list_filters_and_names_bad_filters(
    console: Console, incident: tuple[int, int]
) -> None:
    console.sign_in("audrey")
    page = console.get("/incidents")
    assert page.status_code == 200
    assert f"INC{incident[0]:07d}" in page.text
    assert f"INC{incident[0]:07d}" in console.get("/incidents?state=open&priority=P1").text
    assert "No incidents match." in console.get("/incidents?state=resolved").text
    assert "No incidents match." in console.get("/incidents?service=search").text
    bad = console.get("/incidents?priority=P9")
    assert bad.status_code == 422
    assert "must be P1, P2, P3 or P4" in bad.text
    assert console.get("/incidents?state=sleeping").status_code == 422


def test_the_incident_page_shows_impact_suspects_and_alerts(
    console: Console, incident: tuple[int, int]
) -> None:
    incident_id, run = incident
    console.sign_in("otto")
    page = console.get(f"/incidents/{incident_id}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "checkout down; search degraded" in text
    assert "Tenants affected: <strong>2</strong>" in text
    assert "most critical: acme, bolt" in text
    assert f'href="/deployments/{run}"' in text  # the suspect, with its rollback button
    assert f'aria-label="Roll back deployment #{run}"' in text
    assert "HighErrorRate" in text  # the alert
    assert ">Acknowledge</button>" in text and ">Resolve</button>" in text
    assert "Nobody has responded yet." in text
    assert f'data-incident-live="/incidents/{incident_id}/live"' in text


def test_a_responder_acknowledges_then_resolves_and_a_stale_form_is_409(
    console: Console, incident: tuple[int, int], db: Database
) -> None:
    incident_id, _ = incident
    console.sign_in("dana")
    page = console.get(f"/incidents/{incident_id}").text
    token = csrf_of(page)
    url = f"/incidents/{incident_id}"
    done = console.client.post(
        f"{url}/acknowledge",
        data={"csrf_token": token, "version": "1", "note": "looking"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"{url}?notice=acknowledge"
    after = console.get(done.headers["location"]).text
    assert "You acknowledged the incident." in after
    assert "acknowledged by dana" in after and "looking" in after
    assert "<strong>dana</strong>" in after  # a responder now
    assert ">Acknowledge</button>" not in after
    stale = console.client.post(
        f"{url}/resolve", data={"csrf_token": token, "version": "1"}, follow_redirects=False
    )
    assert stale.status_code == 409
    assert "reload and retry" in stale.text
    with db.session() as session:
        current = incident_service.get_incident(session, incident_id=incident_id)
        assert current.state == "acknowledged"
        version = current.version
    resolved = console.client.post(
        f"{url}/resolve",
        data={"csrf_token": token, "version": str(version)},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    assert ">Reopen</button>" in console.get(f"{url}").text
    empty_reason = console.client.post(
        f"{url}/reopen",
        data={"csrf_token": token, "version": str(version + 1), "reason": ""},
        follow_redirects=False,
    )
    assert empty_reason.status_code == 422
    assert "reason: must not be empty" in empty_reason.text


def test_an_auditor_sees_no_buttons_and_the_posts_are_refused(
    console: Console, incident: tuple[int, int], db: Database
) -> None:
    incident_id, run = incident
    console.sign_in("audrey")
    page = console.get(f"/incidents/{incident_id}")
    assert "Roll back" not in page.text and ">Acknowledge</button>" not in page.text
    token = csrf_of(page.text)
    for action, form in (
        ("acknowledge", {"version": "1"}),
        ("rollback", {"deployment_id": str(run)}),
        ("cause", {"change_id": "1"}),
    ):
        refused = console.client.post(
            f"/incidents/{incident_id}/{action}",
            data={"csrf_token": token, **form},
            follow_redirects=False,
        )
        assert refused.status_code == 403, action
    with db.session() as session:
        assert incident_service.get_incident(session, incident_id=incident_id).state == "triggered"


def test_forms_without_csrf_are_refused(console: Console, incident: tuple[int, int]) -> None:
    console.sign_in("otto")
    refused = console.client.post(
        f"/incidents/{incident[0]}/acknowledge", data={"version": "1"}, follow_redirects=False
    )
    assert refused.status_code == 403


def test_rolling_back_the_suspect_from_the_incident(
    console: Console, incident: tuple[int, int], db: Database
) -> None:
    incident_id, run = incident
    console.sign_in("otto")
    answer = console.post(
        f"/incidents/{incident_id}/rollback",
        {"deployment_id": str(run), "reason": "suspect"},
        page=f"/incidents/{incident_id}",
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/deployments/{run}?notice=rollback"
    with db.session() as session:
        deployment = session.scalar(select(Deployment).where(Deployment.id == run))
        assert deployment is not None and deployment.control == "rollback"
        kinds = [e.kind for e in incident_service.timeline(session, incident_id=incident_id)]
    assert "rollback" in kinds
    page = unescape(console.get(f"/incidents/{incident_id}").text)
    assert f"rollback of deployment {run} requested" in page


def test_bad_rollback_and_cause_input_is_named(console: Console, incident: tuple[int, int]) -> None:
    incident_id, _ = incident
    console.sign_in("otto")
    page = f"/incidents/{incident_id}"
    bad = console.post(f"{page}/rollback", {"deployment_id": "x"}, page=page)
    assert bad.status_code == 422 and "deployment_id" in bad.text
    gone = console.post(f"{page}/rollback", {"deployment_id": "9999"}, page=page)
    assert gone.status_code == 422 and "9999" in gone.text
    no_change = console.post(f"{page}/cause", {"change_id": "4242"}, page=page)
    assert no_change.status_code == 422 and "4242" in no_change.text
    assert console.get("/incidents/777").status_code == 404


def test_the_overview_counts_open_incidents_by_priority(
    console: Console, incident: tuple[int, int]
) -> None:
    console.sign_in("carl")
    page = console.get("/")
    assert "Open incidents by priority" in page.text
    assert f"INC{incident[0]:07d}" in page.text
    assert 'href="/incidents?state=open&amp;priority=P1"' in page.text


def test_a_resolved_incident_streams_its_timeline_and_ends(
    console: Console, incident: tuple[int, int], db: Database
) -> None:
    incident_id, _ = incident
    with db.session(write=True) as session:
        incident_service.resolve(session, actor=SYSTEM, incident_id=incident_id, version=1)
        session.commit()
    console.sign_in("audrey")
    page = console.get(f"/incidents/{incident_id}")
    assert "data-incident-live" not in page.text  # nothing left to follow
    stream = console.get(f"/incidents/{incident_id}/live")
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [line for line in stream.text.splitlines() if line.startswith("event: ")]
    assert events == ["event: timeline", "event: state", "event: done"]
    assert "resolved by system:tests" in stream.text
    assert console.get("/incidents/999/live").status_code == 404
