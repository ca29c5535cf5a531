"""An in-memory keyring backend, so that tests never touch the machine's real keyring.

Only the Secret Service test (tests/integration/test_credentials_secret_service.py) uses the
real one.
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.locks_at: set[str] = set()
        """Entry names (``access_token``) whose save finds the keyring locked, as a screen lock
        or a timeout can lock it between two saves."""

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if username.rsplit("/", 1)[-1] in self.locks_at:
            raise KeyringLocked("the collection is locked")
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError(f"no {username} in {service}") from None
