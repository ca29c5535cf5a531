"""The instrument search over a Kite-format master with every expiry listed: a contract is found
by its parts (underlying, strike, CE / PE / FUT, expiry month and day) in any expiry, the type and
strike typed are the instrument's, never letters of its name, and each popup line is one
instrument (the exchange is named).

The master is written in Kite's CSV format and read by the desk's own Kite reader: NIFTY has 13
expiries of 201 strikes each, so its first 2,000 text hits reach only the nearest five.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from pytestqt.qtbot import QtBot

from engine.api.instruments import InstrumentsView
from engine.brokers.kite.instruments_csv import load_kite_instruments
from engine.domain.instruments import Instrument, InstrumentType
from engine.marketdata.instrument_registry import InstrumentRegistry
from tests.kite_fake.chain import MasterRow, option_symbol
from ui.panels.instrument_picker import (
    InstrumentPicker,
    parse_query,
    query_words,
    strike_text,
)

HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,"
    "lot_size,instrument_type,segment,exchange"
)
NIFTY_EXPIRIES = [
    date(2026, 11, 24),
    date(2026, 12, 1),
    date(2026, 12, 8),
    date(2026, 12, 15),
    date(2026, 12, 22),
    date(2026, 12, 29),
    date(2027, 1, 5),
    date(2027, 1, 12),
    date(2027, 1, 19),
    date(2027, 1, 26),
    date(2027, 2, 23),
    date(2027, 3, 30),
    date(2027, 6, 29),
]
MONTHLY = date(2026, 11, 24)
SEGMENT_CODES = {"NSE": 1, "NFO": 2, "BSE": 4, "INDICES": 9}


class _Master:
    def __init__(self) -> None:
        self.rows: list[MasterRow] = []

    def add(
        self,
        symbol: str,
        name: str,
        kind: str,
        segment: str,
        exchange: str,
        expiry: date | None = None,
        strike: Decimal = Decimal(0),
    ) -> None:
        exchange_token = 10_000 + len(self.rows)
        code = SEGMENT_CODES["INDICES" if segment == "INDICES" else exchange]
        self.rows.append(
            MasterRow(
                instrument_token=exchange_token << 8 | code,
                exchange_token=exchange_token,
                tradingsymbol=symbol,
                name=name,
                last_price=Decimal(0),
                expiry=expiry,
                strike=strike,
                tick_size=Decimal("0.05"),
                lot_size=1 if expiry is None else 75,
                instrument_type=kind,
                segment=segment,
                exchange=exchange,
            )
        )

    def options(self, underlying: str, expiry: date, strikes: list[Decimal]) -> None:
        for strike in strikes:
            for right in ("CE", "PE"):
                symbol = option_symbol(underlying, expiry, strike, right)
                self.add(symbol, underlying, right, "NFO-OPT", "NFO", expiry, strike)

    def write(self, path: Path) -> Path:
        path.write_text("\n".join([HEADER, *(row.csv_line() for row in self.rows)]) + "\n")
        return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> InstrumentRegistry:
    master = _Master()
    master.add("NIFTY 50", "NIFTY 50", "EQ", "INDICES", "NSE")
    for expiry in (date(2026, 11, 24), date(2026, 12, 29), date(2027, 1, 26)):
        master.add(
            f"NIFTY{expiry:%y}{expiry:%b}FUT".upper(), "NIFTY", "FUT", "NFO-FUT", "NFO", expiry
        )
    for expiry in NIFTY_EXPIRIES:
        master.options("NIFTY", expiry, [Decimal(20_000 + 50 * n) for n in range(201)])
    for exchange in ("NSE", "BSE"):
        master.add("INFY", "INFOSYS", "EQ", exchange, exchange)
        master.add("RELIANCE", "RELIANCE INDUSTRIES", "EQ", exchange, exchange)
    master.add("PERSISTENT", "PERSISTENT SYSTEMS", "EQ", "NSE", "NSE")
    master.options("RELIANCE", MONTHLY, [Decimal(s) for s in (1280, 1300, 1320, 13000)])
    master.options("PERSISTENT", MONTHLY, [Decimal(s) for s in (2400, 2500, 2600)])
    master.options("IDEA", MONTHLY, [Decimal("7.5"), Decimal("17.5"), Decimal(8)])
    loaded = load_kite_instruments(master.write(tmp_path_factory.mktemp("kite") / "master.csv"))
    assert not loaded.errors
    return InstrumentRegistry(loaded.instruments)


@pytest.fixture
def picker(qtbot: QtBot, registry: InstrumentRegistry) -> InstrumentPicker:
    # The picker reads only the facade's instruments view; here it is over the Kite master.
    box = InstrumentPicker(SimpleNamespace(instruments=InstrumentsView(registry)))  # type: ignore[arg-type]
    qtbot.addWidget(box)
    return box


def contracts(hits: list[Instrument]) -> list[tuple[str, date | None, str, str]]:
    return [
        (h.underlying, h.expiry, strike_text(h.strike or 0), str(h.instrument_type)) for h in hits
    ]


def test_instrument_search_when_a_far_expiry_month_is_typed_finds_its_contracts(
    picker: InstrumentPicker,
) -> None:
    january = [e for e in NIFTY_EXPIRIES if (e.year, e.month) == (2027, 1)]
    assert contracts(picker.search("nifty jan 26000 ce")) == [
        ("NIFTY", e, "26000", "CE") for e in january
    ]
    assert contracts(picker.search("nifty 29 dec 26000 pe")) == [
        ("NIFTY", date(2026, 12, 29), "26000", "PE")
    ]
    assert contracts(picker.search("nifty mar 26000 ce")) == [
        ("NIFTY", date(2027, 3, 30), "26000", "CE")
    ]
    assert contracts(picker.search("nifty 26 jan 2027 26000 ce")) == [
        ("NIFTY", date(2027, 1, 26), "26000", "CE")
    ]
    every_expiry = picker.search("NIFTY 26000 CE")
    assert [h.expiry for h in every_expiry] == NIFTY_EXPIRIES  # nearest first, none missing
    assert [h.expiry for h in picker.search("bank nifty fut")] == []  # no BANKNIFTY listed
    assert [h.expiry for h in picker.search("nifty fut")] == [
        date(2026, 11, 24),
        date(2026, 12, 29),
        date(2027, 1, 26),
    ]


def test_instrument_search_when_free_text_is_typed_still_finds_symbols_and_names(
    picker: InstrumentPicker,
) -> None:
    weekly = option_symbol("NIFTY", date(2026, 12, 1), Decimal(25_800), "CE")
    assert weekly == "NIFTY26D0125800CE"
    assert [h.tradingsymbol for h in picker.search(weekly.lower())] == [weekly]
    assert [h.key for h in picker.search("reliance industries")] == ["NSE:RELIANCE", "BSE:RELIANCE"]
    assert picker.search("relian")[0].key == "NSE:RELIANCE"
    assert picker.search("nifty 50")[0].tradingsymbol == "NIFTY 50"
    # A strike still being typed: the nearest expiry's strikes that start with the digits.
    typing = picker.search("nifty 2600")
    assert typing and all(strike_text(h.strike or 0).startswith("2600") for h in typing)
    assert typing[0].expiry == NIFTY_EXPIRIES[0]


def test_instrument_search_when_type_and_strike_are_typed_matches_them_not_the_name(
    qtbot: QtBot, picker: InstrumentPicker
) -> None:
    picked: list[Instrument] = []
    picker.picked.connect(picked.append)
    picker.setText("persistent 2500 pe")  # "PE" is also in PERSISTENT
    picker.returnPressed.emit()
    assert [i.tradingsymbol for i in picked] == ["PERSISTENT26NOV2500PE"]
    calls = picker.search("reliance 1300 ce")  # "CE" is also in RELIANCE; 13000 holds "1300"
    assert contracts(calls) == [("RELIANCE", MONTHLY, "1300", "CE")]
    assert contracts(picker.search("idea 7.5 ce")) == [("IDEA", MONTHLY, "7.5", "CE")]


def test_instrument_search_when_a_share_is_on_nse_and_bse_offers_each_with_its_exchange(
    picker: InstrumentPicker,
) -> None:
    picker.textEdited.emit("infy")
    offered = picker.completer().model()
    labels = [offered.index(row, 0).data() for row in range(offered.rowCount())]
    assert labels == ["INFY  INFOSYS  NSE", "INFY  INFOSYS  BSE"]
    picked: list[Instrument] = []
    picker.picked.connect(picked.append)
    for label in labels:
        picker.completer().activated.emit(label)
        picker.textEdited.emit("infy")
    assert [i.key for i in picked] == ["NSE:INFY", "BSE:INFY"]


def test_instrument_search_when_a_strike_has_paise_shows_it_in_rupees(
    picker: InstrumentPicker,
) -> None:
    picker.textEdited.emit("idea 7.5 ce")
    offered = picker.completer().model()
    assert offered.index(0, 0).data() == "IDEA26NOV7.5CE  IDEA 24 Nov 2026 7.5 CE  NFO"
    assert [strike_text(p) for p in (750, 225, 1750, 2_600_000)] == ["7.5", "2.25", "17.5", "26000"]


def test_instrument_search_query_when_parsed_reads_each_part_of_a_contract() -> None:
    underlyings = ["BANKNIFTY", "IDEA", "NIFTY", "RELIANCE"]
    query = parse_query(query_words("nifty 29 dec 26000 ce"), underlyings)
    assert (query.underlyings, query.day, query.month, query.strike, query.kind) == (
        ["NIFTY"],
        29,
        12,
        "26000",
        InstrumentType.CE,
    )
    assert parse_query(query_words("bank nifty fut"), underlyings).underlyings == ["BANKNIFTY"]
    assert parse_query(query_words("nifty jan 2027 ce"), underlyings).year == 2027
    free = parse_query(query_words("reliance industries"), underlyings)
    assert not free.is_structured and free.words == ["INDUSTRIES"]
