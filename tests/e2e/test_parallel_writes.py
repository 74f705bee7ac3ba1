"""Many writers at once through a real server: no forked audit chain, no lost update."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.conftest import Cli, Server

WRITERS = 8
TEAMS_EACH = 15


def create_teams(server: Server, writer: int) -> list[int]:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        return [
            client.post("/api/v1/teams", json={"key": f"w{writer}-{i}", "name": "T"}).status_code
            for i in range(TEAMS_EACH)
        ]


def test_parallel_writers_keep_one_chain(cli: Cli, server: Server) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = [
            s
            for batch in pool.map(lambda w: create_teams(server, w), range(WRITERS))
            for s in batch
        ]
    assert statuses == [201] * WRITERS * TEAMS_EACH
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        verify = client.get("/api/v1/audit/verify").json()
        events = client.get("/api/v1/audit?limit=1000").json()["items"]
    assert verify["intact"], verify
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert sum(e["action"] == "team.create" for e in events) == WRITERS * TEAMS_EACH
    assert len({e["prev_hash"] for e in events}) == len(events)
    assert "intact" in cli("audit", "verify").stdout


def test_concurrent_updates_of_one_object_let_exactly_one_win(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        version = client.post("/api/v1/teams", json={"key": "hot", "name": "Hot"}).json()["version"]

    def rename(i: int) -> int:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            body = {"version": version, "name": f"Hot {i}"}
            return client.patch("/api/v1/teams/hot", json=body).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = sorted(pool.map(rename, range(WRITERS)))
    assert statuses == [200] + [409] * (WRITERS - 1)
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        team = client.get("/api/v1/teams/hot").json()
        updates = client.get("/api/v1/audit?action=team.update").json()["items"]
    assert team["version"] == version + 1
    assert len(updates) == 1
    assert updates[0]["after"]["name"] == team["name"]
