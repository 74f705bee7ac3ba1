"""Posting JSON to a webhook: the part the Slack and generic webhook channels share."""

from __future__ import annotations

import httpx

from flywheel.incident.notifiers import DeliveryError


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    """POST the body; a timeout, a refused connection or a 5xx/429 is retryable, other 4xx not."""
    try:
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout_s,
        )
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out after {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"could not connect: {exc}") from exc
    if response.is_success:
        return
    retryable = response.status_code >= 500 or response.status_code in (408, 429)
    raise DeliveryError(f"HTTP {response.status_code}", retryable=retryable)
