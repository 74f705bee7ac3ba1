"""Generated requests against every operation of the OpenAPI spec: never a 5xx.

Schemathesis builds requests from the spec (valid and invalid bodies, parameters, headers)
and sends them with an admin's token to an app on the test's database; any 5xx fails.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from flywheel.app import create_app
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import make_person

EXAMPLES_PER_OPERATION = 4


def _fuzz(operation: object, headers: dict[str, str], failures: list[str]) -> None:
    strategy = operation.as_strategy()  # type: ignore[attr-defined]

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def send(case: Case) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # an app exception escaping the handlers is a 500 too
            failures.append(f"{case.method} {case.formatted_path} raised {exc!r}"[:400])
            return
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} → {response.status_code}: "
                f"{response.text[:300]}"
            )

    send()


def test_no_operation_answers_5xx(settings: Settings, db: Database) -> None:
    relaxed = settings.model_copy(update={"rate_limit_enabled": False})
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(relaxed, db))
    headers = make_person(db, Role.ADMIN, username="fuzz-admin").headers
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        _fuzz(result.ok(), headers, failures)
        operations += 1
    assert operations > 50
    assert not failures, "\n".join(failures)
