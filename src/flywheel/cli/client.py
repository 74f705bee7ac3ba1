"""A small HTTP client for CLI commands that talk to a running Flywheel over its API.

Pipelines run on CI runners, not on the Flywheel host, so these commands never open the
database: they call `/api/v1` with a token. Error answers become `FlywheelError`
subclasses, so `flywheel.cli.main()` prints one clean line and exits 1. The parsers of
their arguments (durations, times, change ids, metrics, commits) live here too.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer

from flywheel import __version__
from flywheel.errors import (
    Conflict,
    FlywheelError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

DEFAULT_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
REQUEST_TIMEOUT = 30.0
RETRY_DELAYS = (0.5, 1.0, 2.0)
_BY_STATUS: dict[int, type[FlywheelError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_CHANGE_ID = re.compile(r"(?:chg)?0*(\d+)", re.IGNORECASE)

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="FLYWHEEL_URL", help="Flywheel's base URL.", show_envvar=True),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="FLYWHEEL_TOKEN", help="API token.", show_default=False, show_envvar=True
    ),
]


class Unavailable(FlywheelError):
    """Flywheel could not be reached or answered with a server error; a retry may succeed."""

    status_code = 503
    code = "unavailable"


def _error_text(response: httpx.Response) -> tuple[str, str]:
    """The (code, message) of an error answer, JSON or not."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = str(error.get("message") or response.reason_phrase or "error")
    return str(error.get("code") or "error"), message


def raise_for_error(response: httpx.Response) -> None:
    """Raise the FlywheelError an error answer stands for; do nothing on success."""
    if response.is_success:
        return
    code, message = _error_text(response)
    if response.status_code >= 500:
        raise Unavailable(f"Flywheel answered {response.status_code}: {message}")
    error = _BY_STATUS.get(response.status_code, FlywheelError)(message)
    error.code = code
    raise error


def _retryable(exc: FlywheelError) -> bool:
    """Whether the same request, with the same idempotency key, may simply be sent again."""
    return isinstance(exc, Unavailable) or exc.code == "idempotency_in_progress"


class ApiClient:
    """Calls Flywheel's API with a bearer token; answers are decoded JSON."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = REQUEST_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.base_url}{API_PREFIX}",
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"flywheel-cli/{__version__}",
            },
            timeout=timeout,
            transport=transport,
        )
        self.last_replayed = False

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; transport failures become one clean line naming the URL."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"Flywheel at {self.base_url} did not answer in time") from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise Unavailable(f"cannot reach Flywheel at {self.base_url}: {reason}") from exc

    def request(
        self, method: str, path: str, *, idempotency_key: str | None = None, **kwargs: Any
    ) -> Any:
        """Send a request; safe ones (GET, or keyed) are retried when the failure is transient."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        safe = method == "GET" or idempotency_key is not None
        attempts = len(RETRY_DELAYS) + 1 if safe else 1
        for attempt in range(attempts):
            try:
                return self._answer(self._send(method, path, headers=headers, **kwargs))
            except FlywheelError as exc:
                if attempt == attempts - 1 or not _retryable(exc):
                    raise
                time.sleep(RETRY_DELAYS[attempt])
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, response: httpx.Response) -> Any:
        """The decoded body of a successful answer; errors raise."""
        raise_for_error(response)
        self.last_replayed = response.headers.get("idempotent-replayed") == "true"
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        """GET a resource; None-valued parameters are left out."""
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query)

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        """POST a JSON body; retry-safe with an idempotency key (a fresh one when omitted)."""
        key = idempotency_key or f"flywheel-cli:{uuid.uuid4()}"
        return self.request("POST", path, json=body, idempotency_key=key)

    def put(self, path: str, body: Any) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, json=body)


@contextmanager
def connect(url: str, token: str | None) -> Iterator[ApiClient]:
    """A client for the Flywheel at `url`; the token is required."""
    if not token:
        raise Unauthenticated("no API token: pass --token or set FLYWHEEL_TOKEN")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--url '{url}' must start with http:// or https://")
    client = ApiClient(url, token)
    try:
        yield client
    finally:
        client.close()


def parse_duration(text: str) -> timedelta:
    """A positive duration like 30m, 2h, 90s, 1h30m, 500ms or plain seconds."""
    cleaned = text.strip().lower()
    parts = _DURATION_PART.findall(cleaned)
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        parts = [(cleaned, "s")]
    elif not parts or "".join(n + u for n, u in parts) != cleaned:
        raise InvalidInput(f"'{text}' is not a duration (e.g. 90s, 30m, 2h, 1h30m)")
    span = timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    if span <= timedelta(0):
        raise InvalidInput(f"'{text}' is not a duration longer than zero")
    return span


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 timestamp (UTC when it names no zone); InvalidInput otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{option} '{text}' is not an ISO 8601 time") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def format_duration(span: timedelta) -> str:
    """A short human form of a duration: 30m, 1h30m, 4.5s."""
    seconds = span.total_seconds()
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)


def change_id(text: str) -> int:
    """The numeric id of '42' or 'CHG0000042'; InvalidInput otherwise."""
    found = _CHANGE_ID.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise InvalidInput(f"'{text}' is not a change id (e.g. 42 or CHG0000042)")
    return int(found.group(1))


def parse_metrics(groups: list[str]) -> dict[str, float]:
    """Code metrics from 'la=12,ld=3' groups and single 'nf=2' pairs."""
    found: dict[str, float] = {}
    for pair in (p.strip() for group in groups for p in group.split(",") if p.strip()):
        name, sep, value = pair.partition("=")
        try:
            number = float(value)
            if not sep or not name.strip() or not math.isfinite(number):
                raise ValueError(pair)
            found[name.strip()] = number
        except ValueError as exc:
            raise InvalidInput(f"metric '{pair}': expected NAME=NUMBER, e.g. la=120") from exc
    return found


def parse_commit(text: str) -> dict[str, str]:
    """A commit from 'SHA' or 'SHA:AUTHOR'."""
    sha, _, author = text.partition(":")
    commit = {"sha": sha.strip()}
    if author.strip():
        commit["author"] = author.strip()
    return commit
