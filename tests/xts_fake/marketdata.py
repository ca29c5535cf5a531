"""The fake XTS market-data API: aiohttp REST and a Socket.IO v2 socket speaking XTS's wire format.

REST under ``/apimarketdata`` (kite_xts_apis.md §C.1, §C.2, §C.7, §C.13):

- ``POST /auth/login`` takes a JSON or a form body (the vendor SDK sends the login as a form),
  checks the app key and secret and issues a token of the market-data token space (interactive
  tokens are refused). One session per app key: a new login ends the previous token and its
  subscriptions.
- ``POST /instruments/subscription`` subscribes ``{"instruments", "xtsMessageCode"}``: a quota per
  app key (``Remaining_Subscription_Count``), HTTP 400 ``e-session-0002`` for an instrument already
  subscribed, snapshots in ``listQuotes`` as JSON strings; ``PUT`` unsubscribes.
- ``POST /instruments/master`` serves a small realistic universe in the pipe format (§C.10): NIFTY
  weekly options and a future, RELIANCE and INFY (19 and 22 columns), the SENSEX spot row of BSECM,
  and rows the desk leaves out (an MCX future, a NIFTY calendar spread).
- ``GET /instruments/indexlist?exchangeSegment=1`` lists indices as ``"NIFTY 50_26000"``.
- ``POST /instruments/quotes`` answers snapshots without subscribing.
- A dead token is answered ``type: "error"``, ``description: "Invalid Token"`` with HTTP 400, or
  HTTP 200 when ``dead_token_status`` says so (a production deployment does, §C.13.1).

The socket at ``/apimarketdata/socket.io`` emits ``"<code>-json-full"`` / ``"<code>-json-partial"``
events, JSON strings, only for instruments the session's token subscribed; partial events are flat
``"t:1_22,ltp:..."`` strings (or objects, ``partial_as_object``); timestamps of segments 1–3 are
seconds since 1980-01-01 IST. 1501 full events are nested under ``Touchline``, or flat with
``flat_touchline``.

Controls for tests: ``set_price``, ``push`` (emit the current state), ``drop_socket``,
``send_malformed``, ``expire_token``, ``slow_s``, and the socket's ``stall``; the class runs alone
on a free 127.0.0.1 port (``start``) or mounts its routes on an existing
``aiohttp.web.Application`` (``install``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.xts_fake.socketio_v2_server import SocketIOv2Server, SocketSession

PREFIX = "/apimarketdata"
EPOCH_1980_OFFSET_S = 315_513_000
NSE_SEGMENTS = frozenset({1, 2, 3})
SEGMENT_NAMES = {1: "NSECM", 2: "NSEFO", 11: "BSECM", 12: "BSEFO", 51: "MCXFO"}
INDEX_LIST = {
    1: ["NIFTY 50_26000", "NIFTY BANK_26001", "NIFTY FIN SERVICE_26034", "INDIA VIX_26017"],
    11: ["SENSEX_26065"],
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Key = tuple[int, int]
"""(ExchangeSegment, ExchangeInstrumentID)."""


@dataclass
class Market:
    """One instrument's state, rupees as XTS sends them."""

    ltp: float
    close: float
    volume: int = 0
    oi: int = 0
    last_qty: int = 1
    spread: float = 0.05
    depth_qty: int = 75

    def bids(self) -> list[dict[str, Any]]:
        return [
            {"Size": self.depth_qty * (n + 1), "Price": round(self.ltp - self.spread * (n + 1), 2),
             "TotalOrders": n + 1, "BuyBackMarketMaker": 0}
            for n in range(5)
        ]  # fmt: skip

    def asks(self) -> list[dict[str, Any]]:
        return [
            {"Size": self.depth_qty * (n + 1), "Price": round(self.ltp + self.spread * (n + 1), 2),
             "TotalOrders": n + 1, "BuyBackMarketMaker": 0}
            for n in range(5)
        ]  # fmt: skip


def master_rows(expiry: str = "2026-12-08") -> list[str]:
    """A small universe in the pipe format: cash (19 and 22 columns), a future, options, MCX."""
    day = expiry.replace("-", "")
    compact = f"{day[2:4]}{'123456789OND'[int(day[4:6]) - 1]}{day[6:8]}"  # NSE weekly: 26D08
    rows = [
        "NSECM|2885|8|RELIANCE|RELIANCE-EQ|EQ|RELIANCE-EQ|11001000002885|1598.3|1307.6|"
        "100001|0.1|1|1|RELIANCE|INE002A01018|1|1|RELIANCE INDUSTRIES LTD-EQ|0|1|1",
        "NSECM|1594|8|INFY|INFY-EQ|EQ|INFY-EQ|11001000001594|1750|1432|"
        "100001|0.05|1|1|INFY|INE009A01021|1|1|INFOSYS LIMITED-EQ",
        "NSEFO|35001|1|NIFTY|NIFTY26DECFUT|FUTIDX|NIFTY-FUTIDX|2000035001|27500|22500|"
        f"1801|0.1|65|1|-1|Nifty 50|{expiry}T14:30:00|NIFTY 29DEC2026|1|1|NIFTY 26 DEC FUT",
        "MCXFO|445566|1|GOLD|GOLD26DECFUT|FUTCOM|GOLD-FUTCOM|5100445566|80000|70000|"
        f"101|1|1|1|-1|GOLD|{expiry}T23:30:00|GOLD 29DEC2026|1|1|GOLD 26 DEC FUT",
    ]
    instrument_id = 40001
    for strike in (25800, 25900, 26000, 26100, 26200):
        for option_type, suffix in ((3, "CE"), (4, "PE")):
            rows.append(
                f"NSEFO|{instrument_id}|2|NIFTY|NIFTY{compact}{strike}{suffix}|OPTIDX|"
                f"NIFTY-OPTIDX|20000{instrument_id}|5000|0.05|1801|0.05|65|1|-1|Nifty 50|"
                f"{expiry}T14:30:00|{strike}|{option_type}|NIFTY {day[6:8]}DEC{day[:4]} "
                f"{suffix} {strike}|1|1|NIFTY {strike} {suffix}"
            )
            instrument_id += 1
    return [
        *rows,
        "NSEFO|35101|4|NIFTY|NIFTY26DEC27JANFUT|FUTIDX|NIFTY-FUTIDX|2000035101|500|-500|"
        f"1801|0.05|65|1|-1|Nifty 50|{expiry}T14:30:00|NIFTY SPD|1|1|NIFTY DEC-JAN SPREAD",
        "BSECM|26065|16|SENSEX|SENSEX|SPOT|SENSEX-SPOT|1100000026065|0|0|"
        "0|0.01|1|1|SENSEX||1|1|S&P BSE SENSEX",
    ]


def default_market() -> dict[Key, Market]:
    market = {(1, 2885): Market(1410.5, 1402.0, 1_000), (1, 1594): Market(1620.25, 1611.0, 500)}
    market[(2, 35001)] = Market(26080.0, 26010.5, 20_000, oi=1_500_000)
    market[(1, 26000)] = Market(26012.35, 25990.1)
    for n, instrument_id in enumerate(range(40001, 40011)):
        market[(2, instrument_id)] = Market(80.0 + 5 * n, 75.0 + 5 * n, 5_000, oi=100_000 + n)
    return market


@dataclass(eq=False)
class MdSession:
    token: str
    subscriptions: set[tuple[int, int, int]] = field(default_factory=set)
    """(segment, id, message code)."""


class FakeXtsMarketData:
    def __init__(
        self,
        *,
        app_key: str = "md-app-key-3c1f",
        secret_key: str = "md-secret-9a7e",
        quota: int = 50,
        user_id: str = "XTSUSER1",
    ) -> None:
        self.app_key = app_key
        self.secret_key = secret_key
        self.quota = quota
        self.user_id = user_id
        self.market = default_market()
        self.master = master_rows()
        self.session: MdSession | None = None
        self.dead_token_status = 400
        self.flat_touchline = False
        self.partial_as_object = False
        self.now_s: Callable[[], float] = time.time
        self.slow_s = 0.0
        """A delay before every authenticated REST reply (a slow server)."""
        self.logins = 0
        self.login_bodies: list[str] = []
        """"json" or "form", per login."""
        self.requests: list[tuple[str, str]] = []
        self.socket = SocketIOv2Server(
            PREFIX + "/socket.io", authorize=self._authorize, on_session=self._joined
        )
        self._sent_full: set[tuple[str, Key, int]] = set()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- mounting --------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        app.router.add_post(PREFIX + "/auth/login", self._login)
        app.router.add_delete(PREFIX + "/auth/logout", self._guard(self._logout))
        app.router.add_post(PREFIX + "/instruments/subscription", self._guard(self._subscribe))
        app.router.add_put(PREFIX + "/instruments/subscription", self._guard(self._unsubscribe))
        app.router.add_post(PREFIX + "/instruments/master", self._guard(self._master))
        app.router.add_post(PREFIX + "/instruments/quotes", self._guard(self._quotes))
        app.router.add_get(PREFIX + "/instruments/indexlist", self._guard(self._index_list))
        self.socket.install(app)

    async def start(self) -> None:
        app = web.Application()
        self.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def close(self) -> None:
        await self.socket.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests drive ------------------------------------------------------------------------

    def set_price(self, segment: int, instrument_id: int, ltp: float, **changes: Any) -> None:
        state = self.market[(segment, instrument_id)]
        state.ltp = ltp
        state.volume += state.last_qty
        for name, value in changes.items():
            setattr(state, name, value)

    async def push(self, segment: int, instrument_id: int, code: int = 1502) -> int:
        """Emit the instrument's state to every session that subscribed it to ``code``."""
        key = (segment, instrument_id)
        subscribed = self.session is not None and (*key, code) in self.session.subscriptions
        sent = 0
        for socket_session in list(self.socket.sessions) if subscribed else []:
            partial = socket_session.query.get("broadcastMode", "Full") == "Partial"
            seen = (socket_session.sid, key, code)
            if partial and seen in self._sent_full:
                name, payload = f"{code}-json-partial", self.partial_event(key, code)
            else:
                self._sent_full.add(seen)
                name, payload = f"{code}-json-full", json.dumps(self.full_event(key, code))
            sent += await self.socket.emit(name, payload, to=lambda s, me=socket_session: s is me)
        return sent

    async def drop_socket(self) -> int:
        return await self.socket.drop_all()

    async def send_malformed(self) -> None:
        """One of each kind of broken event the stream must survive."""
        for name, payload in (
            ("1501-json-full", "{not json"),
            ("1501-json-full", json.dumps({"ExchangeSegment": 1})),
            ("1502-json-full", json.dumps([1, 2])),
            ("1501-json-partial", "t:1_2885,ltp"),
            ("1502-json-partial", "t:2_35001,bi:0|1|2"),
            (
                "1512-json-full",
                json.dumps(self.full_event((1, 2885), 1512) | {"LastTradedPrice": "x"}),
            ),
        ):
            await self.socket.emit(name, payload)
        await self.socket.send_raw("42{broken frame")

    def expire_token(self) -> None:
        """The token dies (a newer login elsewhere, the day ended): calls and sockets refuse it."""
        self.session = None

    def subscribed(self) -> set[tuple[int, int, int]]:
        return set(self.session.subscriptions) if self.session else set()

    # -- events ----------------------------------------------------------------------------------

    def stamp(self, segment: int) -> int:
        now = int(self.now_s())
        return now - EPOCH_1980_OFFSET_S if segment in NSE_SEGMENTS else now

    def full_event(self, key: Key, code: int) -> dict[str, Any]:
        segment, instrument_id = key
        state = self.market[key]
        header = {
            "MessageCode": code,
            "MessageVersion": 4,
            "ApplicationType": 0,
            "TokenID": 0,
            "ExchangeSegment": segment,
            "ExchangeInstrumentID": instrument_id,
            "ExchangeTimeStamp": self.stamp(segment),
            "BookType": 1,
            "XMarketType": 1,
            "SequenceNumber": 0,
        }
        if code == 1510:
            return header | {"XTSMarketType": 1, "OpenInterest": state.oi}
        if code == 1512:
            return header | {
                "LastTradedPrice": state.ltp,
                "LastTradedQunatity": state.last_qty,
                "LastUpdateTime": self.stamp(segment),
            }
        if code == 1505:
            minute = self.stamp(segment) // 60 * 60
            return header | {
                "BarTime": minute,
                "BarVolume": state.last_qty,
                "Open": state.close,
                "High": max(state.close, state.ltp),
                "Low": min(state.close, state.ltp),
                "Close": state.ltp,
                "OpenInterest": state.oi,
                "SumOfQtyInToPrice": 0,
            }
        bids, asks = state.bids(), state.asks()
        touchline = {
            "BidInfo": bids[0],
            "AskInfo": asks[0],
            "LastTradedPrice": state.ltp,
            "LastTradedQunatity": state.last_qty,
            "TotalBuyQuantity": 1000,
            "TotalSellQuantity": 1200,
            "TotalTradedQuantity": state.volume,
            "AverageTradedPrice": state.ltp,
            "LastTradedTime": self.stamp(segment),
            "LastUpdateTime": self.stamp(segment),
            "PercentChange": round((state.ltp / state.close - 1) * 100, 2),
            "Open": state.close,
            "High": max(state.close, state.ltp),
            "Low": min(state.close, state.ltp),
            "Close": state.close,
            "TotalValueTraded": None,
            "BuyBackTotalBuy": 0,
            "BuyBackTotalSell": 0,
        }
        body = header | (
            touchline if self.flat_touchline and code == 1501 else {"Touchline": touchline}
        )
        if code == 1502:
            body |= {"Bids": bids, "Asks": asks}
        return body

    def partial_event(self, key: Key, code: int) -> str | dict[str, Any]:
        segment, instrument_id = key
        state = self.market[key]
        fields: dict[str, Any] = {"t": f"{segment}_{instrument_id}"}
        if code == 1510:
            fields["oi"] = state.oi
        else:
            fields |= {"ltp": state.ltp, "ltq": state.last_qty, "v": state.volume}
            fields["lut"] = self.stamp(segment)
            if code in (1501, 1502):
                levels = 1 if code == 1501 else 5
                for side, book in (("bi", state.bids()), ("ai", state.asks())):
                    fields[side] = "|".join(
                        f"{n}|{level['Size']}|{level['Price']}|{level['TotalOrders']}"
                        for n, level in enumerate(book[:levels])
                    )
        if self.partial_as_object:
            return fields
        return ",".join(f"{name}:{value}" for name, value in fields.items())

    # -- REST ------------------------------------------------------------------------------------

    @staticmethod
    def ok(result: Any, code: str = "s-session-0001", description: str = "ok") -> web.Response:
        return web.json_response(
            {"type": "success", "code": code, "description": description, "result": result}
        )

    @staticmethod
    def error(status: int, code: str, description: str, result: Any = None) -> web.Response:
        body = {"type": "error", "code": code, "description": description, "result": result or {}}
        return web.json_response(body, status=status)

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, request.path))
            token = request.headers.get("Authorization", "")
            if self.slow_s:
                await asyncio.sleep(self.slow_s)
            if self.session is None or token != self.session.token:
                return self.error(self.dead_token_status, "e-session-0007", "Invalid Token")
            return await handler(request)

        return guarded

    async def _login(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if request.content_type == "application/json":
            body = await request.json()
            self.login_bodies.append("json")
        else:
            body = dict(await request.post())
            self.login_bodies.append("form")
        if body.get("appKey") != self.app_key or body.get("secretKey") != self.secret_key:
            return self.error(400, "e-app-0005", "Invalid appKey or secretKey")
        self.logins += 1
        self.session = MdSession("md-" + secrets.token_hex(16))
        result = {
            "token": self.session.token,
            "userID": self.user_id,
            "appVersion": "1.0.0",
            "application_expiry_date": "2027-12-31",
        }
        return self.ok(result, "s-user-0001", "Logged in successfully")

    async def _logout(self, request: web.Request) -> web.Response:
        self.session = None
        return self.ok({}, "s-user-0002", "Logged out")

    async def _subscribe(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.json()
        code = int(body["xtsMessageCode"])
        wanted = [
            (int(i["exchangeSegment"]), int(i["exchangeInstrumentID"])) for i in body["instruments"]
        ]
        fresh = [key for key in wanted if (*key, code) not in self.session.subscriptions]
        remaining = self.quota - len(self.session.subscriptions)
        if not fresh:
            return self.error(
                400, "e-session-0002", "Instrument Already Subscribed !",
                {"Remaining_Subscription_Count": remaining},
            )  # fmt: skip
        if len(fresh) > remaining:
            return self.error(
                400, "e-session-0005", "Subscription limit exceeded",
                {"Remaining_Subscription_Count": remaining},
            )  # fmt: skip
        for key in fresh:
            self.session.subscriptions.add((*key, code))
        quotes = [json.dumps(self.full_event(key, code)) for key in fresh if key in self.market]
        result = {
            "mdp": code,
            "quotesList": [{"exchangeSegment": s, "exchangeInstrumentID": i} for s, i in fresh],
            "listQuotes": quotes,
            "Remaining_Subscription_Count": self.quota - len(self.session.subscriptions),
        }
        return self.ok(result, "s-session-0001", "Instrument subscribed successfully!")

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.json()
        code = int(body["xtsMessageCode"])
        for item in body["instruments"]:
            key = (int(item["exchangeSegment"]), int(item["exchangeInstrumentID"]), code)
            self.session.subscriptions.discard(key)
        remaining = self.quota - len(self.session.subscriptions)
        return self.ok(
            {"Remaining_Subscription_Count": remaining}, "s-session-0003", "Unsubscribed"
        )

    async def _master(self, request: web.Request) -> web.Response:
        body = await request.json()
        names = set(body.get("exchangeSegmentList", []))
        rows = [row for row in self.master if row.split("|", 1)[0] in names]
        return self.ok("\n".join(rows), "s-master-0001", "Master downloaded")

    async def _index_list(self, request: web.Request) -> web.Response:
        segment = int(request.query["exchangeSegment"])
        names = INDEX_LIST.get(segment, [])
        result = {"exchangeSegment": segment, "indexList": names}
        return self.ok(result, "s-indexlist-0001", "Index list")

    async def _quotes(self, request: web.Request) -> web.Response:
        body = await request.json()
        code = int(body["xtsMessageCode"])
        keys = [
            (int(i["exchangeSegment"]), int(i["exchangeInstrumentID"])) for i in body["instruments"]
        ]
        quotes = [json.dumps(self.full_event(key, code)) for key in keys if key in self.market]
        return self.ok({"mdp": code, "quotesList": [], "listQuotes": quotes}, "s-quotes-0001")

    # -- socket ----------------------------------------------------------------------------------

    def _authorize(self, query: dict[str, str] | Any) -> bool:
        return self.session is not None and query.get("token") == self.session.token

    async def _joined(self, session: SocketSession) -> None:
        await self.socket.emit(
            "joined", json.dumps({"userID": self.user_id}), to=lambda s: s is session
        )
