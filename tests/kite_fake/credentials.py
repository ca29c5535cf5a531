"""The fake Kite's idea of who is logged in: api key and secret, request and access tokens."""

from __future__ import annotations

import hashlib
import itertools
import secrets


def checksum(api_key: str, request_token: str, api_secret: str) -> str:
    """Kite's session checksum: hex SHA-256 of api_key + request_token + api_secret."""
    return hashlib.sha256((api_key + request_token + api_secret).encode()).hexdigest()


class KiteCredentials:
    def __init__(self, api_key: str = "fakeapikey", api_secret: str = "fakeapisecret") -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._request_tokens: set[str] = set()
        self._access_tokens: set[str] = set()
        self._serial = itertools.count(1)
        self.exchanges = 0

    def issue_request_token(self) -> str:
        """What the login page's redirect carries after a successful login (single use)."""
        token = f"req{next(self._serial)}{secrets.token_hex(8)}"
        self._request_tokens.add(token)
        return token

    def issue_access_token(self) -> str:
        token = f"acc{next(self._serial)}{secrets.token_hex(12)}"
        self._access_tokens.add(token)
        return token

    def exchange(self, api_key: str, request_token: str, given_checksum: str) -> str | None:
        """A new access token, or None when the key, the token or the checksum is wrong."""
        if api_key != self.api_key or request_token not in self._request_tokens:
            return None
        if given_checksum != checksum(api_key, request_token, self.api_secret):
            return None
        self._request_tokens.discard(request_token)
        self.exchanges += 1
        return self.issue_access_token()

    def knows(self, request_token: str) -> bool:
        """Whether ``request_token`` was issued and not yet exchanged."""
        return request_token in self._request_tokens

    def is_valid(self, access_token: str) -> bool:
        return access_token in self._access_tokens

    def invalidate(self, access_token: str) -> None:
        self._access_tokens.discard(access_token)

    def expire(self) -> None:
        """Every access token stops working (Kite's 06:00 flush, a logout elsewhere)."""
        self._access_tokens.clear()
