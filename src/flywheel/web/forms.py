"""Reading posted forms and saying what is wrong with them."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import FormData


def form_text(form: FormData, name: str) -> str:
    """A text field of a form, trimmed ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def validation_message(exc: ValidationError) -> str:
    """The first problems of a form, one short clause each: 'reason: must not be empty'."""
    parts = []
    for err in exc.errors()[:3]:
        field = ".".join(str(p) for p in err.get("loc", ())) or "form"
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "string_too_short":
            message = "must not be empty"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
