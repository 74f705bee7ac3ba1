"""A column type that stores a secret encrypted and reads it back in the clear."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from flywheel.vault import keyring

# (table, column) of every encrypted column, so rotation can find them.
ENCRYPTED_COLUMNS: set[tuple[str, str]] = set()


class EncryptedText(TypeDecorator[str]):
    """Text encrypted with the process's keyring on write, decrypted on read."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt on the way in."""
        return None if value is None else keyring.current().encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else keyring.current().decrypt(str(value))


def encrypted(table: str, column: str) -> EncryptedText:
    """The type for an encrypted column, registered for rotation."""
    ENCRYPTED_COLUMNS.add((table, column))
    return EncryptedText()
