"""A fake Symphony XTS for the tests: REST and Socket.IO v2 (aiohttp) on 127.0.0.1.

    async with FakeXts() as xts:
        ... XtsRestConfig(root=xts.url) ...            # interactive REST and socket
        xts.oms.fill(app_order_id, 10)                 # the exchange trades
        xts.market_data.set_price(1, 15083, 400.5)     # market data, mounted on the same server

One ``aiohttp`` application holds the interactive half (``tests.xts_fake.interactive``) and the
market-data half (``tests.xts_fake.marketdata``), as one real XTS server does.
"""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from tests.fake_server import FakeServer
from tests.xts_fake.interactive import FakeXtsInteractive, Limits
from tests.xts_fake.marketdata import FakeXtsMarketData, Market
from tests.xts_fake.oms import FakeInstrument, FakeXtsOms, XtsApiError

ADANIPORTS = FakeInstrument("NSECM", 15083, "ADANIPORTS", Decimal("0.05"), 1, Decimal("400.00"))
"""NSE:ADANIPORTS: exchange token 15083, the same contract as Kite's 3861249."""
NIFTY_FUT = FakeInstrument("NSEFO", 35001, "NIFTY FUT", Decimal("0.05"), 65, Decimal("24000.00"))


class FakeXts(FakeServer):
    def __init__(
        self,
        *,
        instruments: list[FakeInstrument] | None = None,
        limits: Limits | None = None,
        investor: bool = True,
    ) -> None:
        self.oms = FakeXtsOms(instruments or [ADANIPORTS, NIFTY_FUT])
        self.interactive = FakeXtsInteractive(self.oms, limits=limits, investor=investor)
        self.market_data = FakeXtsMarketData(user_id=self.oms.user_id)
        self.app = web.Application()
        self.interactive.install(self.app)
        self.market_data.install(self.app)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        self._port = self._runner.addresses[0][1]
        self.interactive.start_events()

    async def go_down(self) -> None:
        """XTS is unreachable: sockets are cut, new connections refused (``come_back`` reopens
        the same port)."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self.interactive.drop_socket()
        await self.market_data.drop_socket()

    async def come_back(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await self._site.start()

    def set_market(self, instrument: FakeInstrument, price: Decimal) -> None:
        """The instrument trades at ``price``: the OMS matches, market data shows it."""
        self.oms.move_market(instrument.segment, instrument.instrument_id, price)
        key = (SEGMENT_CODES[instrument.segment], instrument.instrument_id)
        if key not in self.market_data.market:
            self.market_data.market[key] = Market(ltp=float(price), close=float(price))
        self.market_data.set_price(*key, float(price))

    async def close(self) -> None:
        await self.interactive.close()
        await self.market_data.close()
        if self._runner is not None:
            await self._runner.cleanup()


SEGMENT_CODES = {"NSECM": 1, "NSEFO": 2, "BSECM": 11, "BSEFO": 12}

__all__ = [
    "ADANIPORTS",
    "NIFTY_FUT",
    "FakeInstrument",
    "FakeXts",
    "FakeXtsInteractive",
    "FakeXtsMarketData",
    "FakeXtsOms",
    "Limits",
    "XtsApiError",
]
