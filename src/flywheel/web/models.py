"""Tables of the console: signed-in browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow
from flywheel.vault.types import encrypted


class ConsoleSession(Base):
    """One browser sign-in: the cookie carries its key, only the key's hash is kept."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(index=True)
    token_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The provider's ID token of a single sign-on session: the hint for signing out there too.
    id_token: Mapped[str | None] = mapped_column(encrypted("console_sessions", "id_token"))
