"""A fake Zerodha Kite for the tests: REST (aiohttp) and ticker (websockets) on 127.0.0.1.

    async with FakeKite() as kite:
        request_token = kite.credentials.issue_request_token()   # what the login redirect carries
        ... KiteConnect(api_key, root=kite.rest.url) ...
        ... KiteTickerClient(..., config=KiteTickerConfig(url=kite.ticker.url)) ...

Order changes made through REST (or by ``kite.oms.fill``) reach the ticker's connections as order
updates, as on the real service.
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.fake_server import FakeServer
from tests.kite_fake.chain import MasterRow, OptionChain, next_weekly_expiry, nifty_chain
from tests.kite_fake.credentials import KiteCredentials, checksum
from tests.kite_fake.oms import FakeInstrument, FakeOms, KiteApiError, load_fixture_instruments
from tests.kite_fake.packets import MarketState
from tests.kite_fake.rest_server import FakeRestServer, RateLimits
from tests.kite_fake.ticker_server import FakeTickerServer


class FakeKite(FakeServer):
    def __init__(
        self,
        *,
        heartbeat_s: float = 0.5,
        limits: RateLimits | None = None,
        instruments: list[FakeInstrument] | None = None,
    ) -> None:
        self.credentials = KiteCredentials()
        self.oms = FakeOms(instruments if instruments is not None else load_fixture_instruments())
        self.rest = FakeRestServer(self.credentials, self.oms, limits)
        self.ticker = FakeTickerServer(self.credentials, heartbeat_s=heartbeat_s)
        self.oms.listeners.append(self.ticker.push_order_update)

    @property
    def api_key(self) -> str:
        return self.credentials.api_key

    @property
    def api_secret(self) -> str:
        return self.credentials.api_secret

    def list_instruments(
        self, rows: Iterable[MasterRow], *, freeze_quantity: int | None = None
    ) -> None:
        """List more instruments: in the master the desk downloads, and tradable at the OMS
        (derivatives refused above ``freeze_quantity``, as the exchange does)."""
        for row in rows:
            self.rest.listed.append(row.csv_line())
            freeze = freeze_quantity if row.segment.startswith("NFO") else None
            self.oms.add_instrument(row.traded(freeze))

    def login(self) -> str:
        """A valid access token without the REST exchange (for tests that are not about login)."""
        return self.credentials.issue_access_token()

    async def expire_token(self) -> None:
        """Every access token stops working; open ticker sessions are told and closed."""
        self.credentials.expire()
        await self.ticker.close_expired()

    async def start(self) -> None:
        await self.rest.start()
        await self.ticker.start()

    async def go_down(self) -> None:
        """Kite is unreachable: open sockets are cut and new connections refused (the same
        ports come back with ``come_back``)."""
        await self.ticker.stop_listening()
        await self.rest.stop_listening()

    async def come_back(self) -> None:
        await self.rest.listen_again()
        await self.ticker.listen_again()

    async def close(self) -> None:
        await self.ticker.close()
        await self.rest.close()


__all__ = [
    "FakeInstrument",
    "FakeKite",
    "KiteApiError",
    "KiteCredentials",
    "MarketState",
    "MasterRow",
    "OptionChain",
    "RateLimits",
    "checksum",
    "next_weekly_expiry",
    "nifty_chain",
]
