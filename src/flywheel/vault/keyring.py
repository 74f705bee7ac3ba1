"""The keys that encrypt secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256), newest first.

Keys come from FLYWHEEL_ENCRYPTION_KEYS (comma-separated, newest first) or, when that is not
set, from `<home>/encryption_keys` (one per line, newest first; generated on first use, mode
0600). Rotation: put a new key first, keep the old ones after it, run `flywheel secrets
rotate`, then drop the old keys.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from flywheel.config import Settings, get_settings
from flywheel.errors import FlywheelError

PREFIX = "fwenc1:"


class SecretUnreadable(FlywheelError):
    """A stored secret that none of the configured keys decrypts."""

    code = "secret_unreadable"


class Keyring:
    """Encrypts with the newest key, decrypts with any."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self.keys = keys
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plain: str) -> str:
        """The stored form of a secret."""
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The secret; a value stored before encryption was turned on comes back as it is."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with the configured keys "
                "(FLYWHEEL_ENCRYPTION_KEYS or <home>/encryption_keys): was a key dropped too soon?"
            ) from exc

    def rotated(self, stored: str) -> str | None:
        """The value re-encrypted with the newest key, or None when it already is."""
        if stored.startswith(PREFIX):
            token = stored[len(PREFIX) :].encode()
            newest = Fernet(self.keys[0].encode())
            try:
                newest.decrypt(token)
                return None
            except InvalidToken:
                pass
        return self.encrypt(self.decrypt(stored))


def keys_from(settings: Settings) -> list[str]:
    """The configured keys, newest first; generates a key file on first use."""
    if settings.encryption_keys:
        return [k.strip() for k in settings.encryption_keys.split(",") if k.strip()]
    path = Path(settings.home) / "encryption_keys"
    if path.exists():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(Fernet.generate_key().decode() + "\n")
    path.chmod(0o600)
    return keys_from(settings)


_current: Keyring | None = None
_guard = threading.Lock()


def use(settings: Settings) -> Keyring:
    """Make this the process's keyring (the app and the CLI call it at start)."""
    global _current
    with _guard:
        _current = Keyring(keys_from(settings))
        return _current


def current() -> Keyring:
    """The process's keyring, from the environment's settings when none was set."""
    with _guard:
        ring = _current
    return ring if ring is not None else use(get_settings())
