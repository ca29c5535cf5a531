"""The credential store: keyring entries per profile, the day's Kite token and its expiry."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService
from keyring.backends.chainer import ChainerBackend
from keyring.backends.fail import Keyring as NoKeyring
from keyring.backends.null import Keyring as NullKeyring
from keyring.errors import PasswordDeleteError

from engine.core.clock import IST
from engine.credentials import (
    SERVICE,
    CredentialStore,
    CredentialsUnavailable,
    kite_token_expiry,
)
from tests.memory_keyring import MemoryKeyring


@pytest.mark.parametrize(
    ("issued", "expires"),
    [
        (datetime(2026, 11, 23, 9, 5, tzinfo=IST), datetime(2026, 11, 24, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 23, 5, 59, tzinfo=IST), datetime(2026, 11, 23, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 23, 6, 0, tzinfo=IST), datetime(2026, 11, 24, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 28, 23, 0, tzinfo=IST), datetime(2026, 11, 29, 6, 0, tzinfo=IST)),
    ],
)
def test_kite_token_expiry_when_issued_is_the_next_0600_ist(
    issued: datetime, expires: datetime
) -> None:
    assert kite_token_expiry(issued) == expires


def test_kite_token_expiry_when_issued_is_naive_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        kite_token_expiry(datetime(2026, 11, 23, 9, 0))  # noqa: DTZ001


def test_store_when_keys_and_token_saved_reads_them_back_under_the_dalaldesk_service() -> None:
    backend = MemoryKeyring()
    store = CredentialStore("desk1", backend=backend)
    issued = datetime(2026, 11, 23, 9, 0, tzinfo=IST)

    store.save_kite_keys("key1", "secret1")
    token = store.save_kite_access_token("tok1", issued)

    assert store.kite_api_key() == "key1" and store.kite_api_secret() == "secret1"
    assert {name for _, name in backend.entries} == {
        "kite/desk1/api_key",
        "kite/desk1/api_secret",
        "kite/desk1/access_token",
    }
    assert {service for service, _ in backend.entries} == {SERVICE}
    assert store.kite_access_token(issued).token == "tok1"  # type: ignore[union-attr]
    assert "tok1" not in repr(token) and "secret1" not in repr(store)


def test_store_when_token_has_expired_forgets_it() -> None:
    backend = MemoryKeyring()
    store = CredentialStore("desk1", backend=backend)
    store.save_kite_access_token("tok1", datetime(2026, 11, 23, 9, 0, tzinfo=IST))

    assert store.kite_access_token(datetime(2026, 11, 24, 6, 0, tzinfo=IST)) is None
    assert ("dalaldesk", "kite/desk1/access_token") not in backend.entries


def test_store_when_the_saved_token_is_unreadable_forgets_it() -> None:
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "kite/desk1/access_token", "not json")
    store = CredentialStore("desk1", backend=backend)

    assert store.kite_access_token(datetime(2026, 11, 23, 9, 0, tzinfo=IST)) is None
    assert backend.entries == {}


def test_store_when_the_api_key_changes_forgets_the_old_keys_token() -> None:
    store = CredentialStore("desk1", backend=MemoryKeyring())
    now = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
    store.save_kite_keys("key1", "secret1")
    store.save_kite_access_token("tok1", now)

    store.save_kite_keys("key2", "secret2")

    assert store.kite_access_token(now) is None
    assert store.kite_api_key() == "key2"


def test_store_when_profiles_differ_keeps_their_secrets_apart() -> None:
    backend = MemoryKeyring()
    CredentialStore("a", backend=backend).save_kite_keys("keya", "secreta")

    assert CredentialStore("b", backend=backend).kite_api_secret() is None


@pytest.mark.parametrize(("key", "secret"), [("", "s"), ("k", ""), ("k y", "s"), ("k", "s;x")])
def test_store_when_keys_are_malformed_refuses_them(key: str, secret: str) -> None:
    store = CredentialStore("desk1", backend=MemoryKeyring())

    with pytest.raises(ValueError, match="letters and digits"):
        store.save_kite_keys(key, secret)


def test_store_when_there_is_no_keyring_says_how_to_fix_it() -> None:
    store = CredentialStore("desk1", backend=NoKeyring())

    with pytest.raises(CredentialsUnavailable, match="Secret Service") as refused:
        store.save_kite_keys("key1", "secret1")
    with pytest.raises(CredentialsUnavailable, match="could not read the kite api key"):
        store.kite_api_key()
    assert "keyrings.alt" not in str(refused.value)  # never the advice to store them in a file


def test_store_when_profile_name_has_a_slash_is_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        CredentialStore("a/b", backend=MemoryKeyring())


class PlainTextFileKeyring(KeyringBackend):
    """Stands for keyrings.alt's PlaintextKeyring: what keyring picks once that package is in."""

    priority = 0.5

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(f"{service} {username} {password}\n")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordDeleteError(username)


def test_store_when_keyring_picks_a_plain_text_file_refuses_it_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = PlainTextFileKeyring(tmp_path / "keyring_pass.cfg")
    monkeypatch.setattr(keyring.core, "_keyring_backend", plain)
    store = CredentialStore("desk1")

    with pytest.raises(CredentialsUnavailable, match="not the OS keyring") as refused:
        store.save_kite_keys("key1", "secret1")
    with pytest.raises(CredentialsUnavailable, match="could not read the kite api key"):
        store.kite_api_key()

    assert not plain.path.exists()
    assert "keyrings.alt" not in str(refused.value) and "Secret Service" in str(refused.value)


@pytest.mark.parametrize("backend", [NoKeyring(), NullKeyring()], ids=["fail", "null"])
def test_store_when_the_keyring_fails_or_forgets_refuses_it_without_a_plain_text_advice(
    backend: KeyringBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)

    with pytest.raises(CredentialsUnavailable, match="only in the operating system's") as refused:
        CredentialStore("desk1").save_kite_keys("key1", "secret1")

    assert "keyrings.alt" not in str(refused.value) and "Secret Service" in str(refused.value)


def test_store_when_keyring_chains_the_os_keyring_and_a_file_uses_only_the_os_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: dict[tuple[str, str], str] = {}
    monkeypatch.setattr(
        SecretService.Keyring, "set_password", lambda _, s, u, p: written.update({(s, u): p})
    )
    monkeypatch.setattr(SecretService.Keyring, "get_password", lambda _, s, u: written.get((s, u)))
    plain = PlainTextFileKeyring(tmp_path / "keyring_pass.cfg")
    plain.priority = 20  # first in the chain: the chainer would write here
    monkeypatch.setattr(ChainerBackend, "backends", [plain, SecretService.Keyring()])
    monkeypatch.setattr(keyring.core, "_keyring_backend", ChainerBackend())

    CredentialStore("desk1").save_kite_keys("key1", "secret1")

    assert written[(SERVICE, "kite/desk1/api_secret")] == "secret1"
    assert not plain.path.exists()


def test_store_when_keyring_chains_no_os_keyring_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = PlainTextFileKeyring(tmp_path / "keyring_pass.cfg")
    monkeypatch.setattr(ChainerBackend, "backends", [plain, NullKeyring()])
    monkeypatch.setattr(keyring.core, "_keyring_backend", ChainerBackend())

    with pytest.raises(CredentialsUnavailable, match="no OS keyring is available"):
        CredentialStore("desk1").save_kite_keys("key1", "secret1")

    assert not plain.path.exists()


def test_store_when_given_a_plain_text_backend_explicitly_refuses_it_too(tmp_path: Path) -> None:
    plain = PlainTextFileKeyring(tmp_path / "keyring_pass.cfg")

    with pytest.raises(CredentialsUnavailable, match="PlainTextFileKeyring"):
        CredentialStore("desk1", backend=plain).save_kite_keys("key1", "secret1")

    assert not plain.path.exists()
