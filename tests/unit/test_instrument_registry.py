"""Instrument registry look-ups and search, and the Kite instruments CSV loader."""

from __future__ import annotations

import io
from datetime import date

import pytest

from engine.brokers.kite.instruments_csv import (
    KITE_COLUMNS,
    load_kite_instruments,
)
from engine.domain.freeze import FreezeTable, load_freeze_table
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.domain.values import Paise
from engine.marketdata.instrument_registry import InstrumentRegistry, UnknownInstrument
from tests.support import KITE_FIXTURES

FIXTURES = KITE_FIXTURES
HEADER = ",".join(KITE_COLUMNS)
DEC = date(2026, 12, 29)
NOV = date(2026, 11, 24)


def _option(
    strike: int, kind: InstrumentType, expiry: date = DEC, exch_token: int = 0
) -> Instrument:
    month = expiry.strftime("%b").upper()
    token_seed = exch_token or (
        strike * 10 + (1 if kind is InstrumentType.CE else 2) + expiry.month
    )
    return Instrument(
        token=make_token(token_seed, Segment.NFO_OPT),
        exchange=Exchange.NFO,
        segment=Segment.NFO_OPT,
        tradingsymbol=f"NIFTY{expiry:%y}{month}{strike}{kind}",
        name="NIFTY",
        instrument_type=kind,
        underlying="NIFTY",
        tick_size=Paise(5),
        lot_size=65,
        expiry=expiry,
        strike=Paise(strike * 100),
        freeze_quantity=1800,
        exchange_token=token_seed,
    )


def _equity(symbol: str, name: str, exch_token: int) -> Instrument:
    return Instrument(
        token=make_token(exch_token, Segment.NSE),
        exchange=Exchange.NSE,
        segment=Segment.NSE,
        tradingsymbol=symbol,
        name=name,
        instrument_type=InstrumentType.EQ,
        underlying=symbol,
        tick_size=Paise(10),
        lot_size=1,
        exchange_token=exch_token,
    )


NIFTY_INDEX = Instrument(
    token=InstrumentToken(256265),
    exchange=Exchange.NSE,
    segment=Segment.INDICES,
    tradingsymbol="NIFTY 50",
    name="NIFTY 50",
    instrument_type=InstrumentType.INDEX,
    underlying="NIFTY",
    tick_size=Paise(5),
    lot_size=0,
    exchange_token=1001,
)
NIFTY_FUT = Instrument(
    token=make_token(35001, Segment.NFO_FUT),
    exchange=Exchange.NFO,
    segment=Segment.NFO_FUT,
    tradingsymbol="NIFTY26DECFUT",
    name="NIFTY",
    instrument_type=InstrumentType.FUT,
    underlying="NIFTY",
    tick_size=Paise(10),
    lot_size=65,
    expiry=DEC,
    freeze_quantity=1800,
    exchange_token=35001,
)


@pytest.fixture
def registry() -> InstrumentRegistry:
    reg = InstrumentRegistry()
    reg.add(NIFTY_INDEX)
    reg.add(NIFTY_FUT)
    reg.add_all(
        [
            _equity("RELIANCE", "RELIANCE INDUSTRIES", 2885),
            _equity("INFY", "INFOSYS", 1594),
            _equity("NIFTYBEES", "NIPPON INDIA ETF NIFTY BEES", 10576),
        ]
    )
    for strike in (25_900, 26_000, 26_100):
        reg.add(_option(strike, InstrumentType.CE))
        reg.add(_option(strike, InstrumentType.PE))
    reg.add(_option(26_000, InstrumentType.CE, NOV))
    # A strike listed only as a call: the chain shows an empty put side.
    reg.add(_option(26_200, InstrumentType.CE))
    return reg


# ------------------------------------------------------------------------------------- registry


def test_get_when_token_known_returns_instrument(registry: InstrumentRegistry) -> None:
    assert registry.get(InstrumentToken(256265)) is NIFTY_INDEX
    assert registry.find(NIFTY_FUT.token) is NIFTY_FUT


def test_get_when_token_unknown_raises_readable_unknown_instrument(
    registry: InstrumentRegistry,
) -> None:
    with pytest.raises(UnknownInstrument) as caught:
        registry.get(InstrumentToken(42))
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("instrument token 42 is not in the registry")
    assert registry.find(InstrumentToken(42)) is None


def test_add_when_token_or_symbol_already_registered_refuses(registry: InstrumentRegistry) -> None:
    with pytest.raises(ValueError, match="token 256265 is already registered"):
        registry.add(NIFTY_INDEX)
    same_symbol_new_token = _equity("RELIANCE", "RELIANCE INDUSTRIES", 99_999)
    with pytest.raises(ValueError, match="NSE:RELIANCE is already registered"):
        registry.add(same_symbol_new_token)


def test_by_symbol_when_known_returns_instrument_case_insensitively(
    registry: InstrumentRegistry,
) -> None:
    assert registry.by_symbol(Exchange.NFO, "NIFTY26DECFUT") is NIFTY_FUT
    assert registry.by_symbol("nfo", "nifty26decfut") is NIFTY_FUT
    assert registry.by_symbol(Exchange.NSE, "NIFTY26DECFUT") is None


def test_len_and_iter_when_populated_cover_every_instrument(registry: InstrumentRegistry) -> None:
    assert len(registry) == 13
    assert len({instr.token for instr in registry}) == 13
    assert NIFTY_INDEX.token in registry


def test_underlyings_when_derivatives_listed_returns_only_fo_underlyings(
    registry: InstrumentRegistry,
) -> None:
    assert registry.underlyings() == ["NIFTY"]


def test_expiries_when_several_listed_returns_them_nearest_first(
    registry: InstrumentRegistry,
) -> None:
    assert registry.expiries("NIFTY") == [NOV, DEC]
    assert registry.expiries("RELIANCE") == []


def test_chain_when_expiry_listed_returns_rows_sorted_by_strike(
    registry: InstrumentRegistry,
) -> None:
    chain = registry.chain("NIFTY", DEC)
    assert [strike for strike, _, _ in chain] == [2_590_000, 2_600_000, 2_610_000, 2_620_000]
    for strike, call, put in chain[:3]:
        assert call is not None and call.instrument_type is InstrumentType.CE
        assert put is not None and put.instrument_type is InstrumentType.PE
        assert call.strike == put.strike == strike
    assert chain[3][1] is not None and chain[3][2] is None
    assert registry.chain("NIFTY", date(2027, 1, 26)) == []


def test_search_when_text_given_ranks_exact_then_prefix_then_substring(
    registry: InstrumentRegistry,
) -> None:
    results = registry.search("nifty")
    symbols = [instr.tradingsymbol for instr in results]
    # Prefix matches: cash/index before futures before options, near expiry first.
    assert symbols[:3] == ["NIFTY 50", "NIFTYBEES", "NIFTY26DECFUT"]
    assert symbols[3] == "NIFTY26NOV26000CE"
    assert len(results) == 11

    assert registry.search("RELIANCE")[0].tradingsymbol == "RELIANCE"
    # A name prefix ranks above a substring of another symbol.
    assert [i.tradingsymbol for i in registry.search("infosys")] == ["INFY"]
    assert [i.tradingsymbol for i in registry.search("BEES")] == ["NIFTYBEES"]


def test_search_when_exact_symbol_exists_puts_it_first() -> None:
    reg = InstrumentRegistry(
        [_equity("SBINEQWETF", "SBI ETF", 1), _equity("SBIN", "STATE BANK OF INDIA", 3045)]
    )
    assert [i.tradingsymbol for i in reg.search("sbin")] == ["SBIN", "SBINEQWETF"]


def test_search_when_filters_given_narrows_candidates(registry: InstrumentRegistry) -> None:
    puts = registry.search(underlying="NIFTY", expiry=DEC, instrument_type=InstrumentType.PE)
    assert [i.strike for i in puts] == [2_590_000, 2_600_000, 2_610_000]
    at_26000 = registry.search("NIFTY", strike=Paise(2_600_000))
    assert {i.tradingsymbol for i in at_26000} == {
        "NIFTY26NOV26000CE",
        "NIFTY26DEC26000CE",
        "NIFTY26DEC26000PE",
    }
    assert registry.search("RELIANCE", underlying="NIFTY") == []


def test_search_when_limit_given_returns_at_most_limit(registry: InstrumentRegistry) -> None:
    assert len(registry.search("NIFTY", limit=2)) == 2
    assert len(registry.search(limit=5)) == 5
    assert registry.search("NIFTY", limit=0) == []


def test_search_when_registry_changes_sees_new_instruments(registry: InstrumentRegistry) -> None:
    assert registry.search("TCS") == []
    registry.add(_equity("TCS", "TATA CONSULTANCY SERV", 11536))
    assert [i.tradingsymbol for i in registry.search("TCS")] == ["TCS"]


def test_registry_when_100k_instruments_indexes_them_all() -> None:
    instruments = []
    expiries = [date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 29), date(2027, 1, 26)]
    token = 1
    for underlying_no in range(200):
        underlying = f"STOCK{underlying_no:03d}"
        for expiry in expiries:
            for strike_no in range(63):
                for kind in (InstrumentType.CE, InstrumentType.PE):
                    strike = 1000 + strike_no * 10
                    instruments.append(
                        Instrument(
                            token=make_token(token, Segment.NFO_OPT),
                            exchange=Exchange.NFO,
                            segment=Segment.NFO_OPT,
                            tradingsymbol=f"{underlying}{expiry:%y%m%d}{strike}{kind}",
                            name=underlying,
                            instrument_type=kind,
                            underlying=underlying,
                            tick_size=Paise(5),
                            lot_size=500,
                            expiry=expiry,
                            strike=Paise(strike * 100),
                            exchange_token=token,
                        )
                    )
                    token += 1
    registry = InstrumentRegistry(instruments)
    assert len(registry) == 100_800
    assert len(registry.chain("STOCK123", expiries[2])) == 63
    assert registry.expiries("STOCK007") == expiries
    found = registry.search("stock123261229", limit=10)
    assert len(found) == 10
    assert all(i.tradingsymbol.startswith("STOCK123261229") for i in found)
    assert [i.strike for i in found][:2] == [100_000, 100_000]
    assert registry.search("STOCK199", expiry=expiries[3], strike=Paise(162_000)) != []


# ----------------------------------------------------------------------------------- Kite CSV


def test_load_kite_instruments_when_official_mock_loads_every_row() -> None:
    result = load_kite_instruments(FIXTURES / "instruments_all.csv")
    assert result.errors == []
    assert len(result.instruments) == 99
    registry = InstrumentRegistry(result.instruments)
    option = registry.by_symbol(Exchange.NFO, "BANKNIFTY18JAN23500CE")
    assert option is not None
    assert option.token == 12073986
    assert option.token == make_token(option.exchange_token, Segment.NFO_OPT)
    assert option.strike == 2_350_000
    assert option.tick_size == 5
    assert option.lot_size == 40
    assert option.expiry == date(2018, 1, 25)
    # Old dumps leave `name` empty for derivatives; the underlying is read from the symbol.
    assert option.underlying == "BANKNIFTY"
    assert option.freeze_quantity == 600
    stock_option = registry.by_symbol(Exchange.NFO, "ADANIPORTS17DEC490PE")
    assert stock_option is not None and stock_option.freeze_quantity is None
    bond = registry.by_symbol(Exchange.BSE, "828GOI27-ML")
    assert bond is not None and bond.tick_size == 25 and bond.lot_size == 500_000


def test_load_kite_instruments_when_nse_file_given_loads_equities() -> None:
    result = load_kite_instruments(str(FIXTURES / "instruments_nse.csv"))
    assert result.errors == []
    assert len(result.instruments) == 99
    assert all(i.instrument_type is InstrumentType.EQ for i in result.instruments)
    etf = next(i for i in result.instruments if i.tradingsymbol == "MIDCAPIWIN-BL")
    assert etf.tick_size == 1 and etf.underlying == "MIDCAPIWIN-BL" and etf.strike is None


def test_load_kite_instruments_when_index_row_makes_index_with_underlying_symbol() -> None:
    csv_text = (
        f"{HEADER}\n"
        "256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE\n"
        "260105,1016,NIFTY BANK,NIFTY BANK,0,,0,0.05,0,EQ,INDICES,NSE\n"
        "9999881,39062,NIFTY26DECFUT,NIFTY,26105.3,2026-12-29,0,0.1,65,FUT,NFO-FUT,NFO\n"
    )
    result = load_kite_instruments(csv_text)
    assert result.errors == []
    nifty, bank, future = result.instruments
    assert nifty.instrument_type is InstrumentType.INDEX and not nifty.tradable
    assert nifty.underlying == "NIFTY" and bank.underlying == "BANKNIFTY"
    assert future.underlying == "NIFTY"
    assert future.tick_size == 10 and future.strike is None and future.freeze_quantity == 1800


def test_load_kite_instruments_when_rows_are_bad_skips_and_reports_each() -> None:
    good = "12073986,47164,BANKNIFTY18JAN23500CE,BANKNIFTY,2528.4,2018-01-25,23500.0,0.05,40,CE,NFO-OPT,NFO"
    rows = [
        good,
        "12073987,47164,SHORTROW,BANKNIFTY,0,2018-01-25,23500.0,0.05,40",
        "abc,47165,X,Y,0,,0,0.05,1,EQ,NSE,NSE",
        "12074242,47165,BANKNIFTY18JAN23500PE,BANKNIFTY,0,2018-25-01,23500.0,0.05,40,PE,NFO-OPT,NFO",
        "1934849,7558,ODDTICK,ODD,0,,0,0.005,1,EQ,NSE,NSE",
        "1934850,7559,WARRANT,ODD,0,,0,0.05,1,WT,NSE,NSE",
        "1934851,7560,GOLDM,GOLD,0,2018-01-25,0,1,1,FUT,MCX-FUT,MCX",
        "12073986,47164,DUPE,BANKNIFTY,0,2018-01-25,23500.0,0.05,40,CE,NFO-OPT,NFO",
        "",
        "1934852,7561,NOEXPIRY,NIFTY,0,,0,0.05,65,FUT,NFO-FUT,NFO",
    ]
    result = load_kite_instruments(io.StringIO(HEADER + "\n" + "\n".join(rows) + "\n"))
    assert [i.tradingsymbol for i in result.instruments] == ["BANKNIFTY18JAN23500CE"]
    assert result.errors == [
        "row 3: 9 columns, expected 12",
        "row 4: instrument_token 'abc' is not a positive integer",
        "row 5: expiry '2018-25-01' is not a YYYY-MM-DD date",
        "row 6: tick_size '0.005': 0.005 is finer than one paisa",
        "row 7: unknown instrument_type 'WT'",
        "row 8: unknown exchange 'MCX'",
        "row 9: instrument_token 12073986 repeats row 2",
        "row 11: FUT without an expiry",
    ]


def test_load_kite_instruments_when_header_wrong_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not a Kite instruments CSV"):
        load_kite_instruments(io.StringIO("token,symbol\n1,ABC\n"))
    with pytest.raises(ValueError, match="empty"):
        load_kite_instruments(io.StringIO(""))


def test_load_kite_instruments_when_freeze_table_given_uses_it() -> None:
    csv_text = (
        f"{HEADER}\n"
        "12073986,47164,BANKNIFTY18JAN23500CE,BANKNIFTY,0,2018-01-25,23500.0,0.05,40,CE,NFO-OPT,NFO\n"
    )
    assert load_kite_instruments(csv_text, {"BANKNIFTY": 900}).instruments[0].freeze_quantity == 900
    assert load_kite_instruments(csv_text, {}).instruments[0].freeze_quantity is None


def test_load_freeze_table_when_shipped_table_read_has_current_values() -> None:
    table = load_freeze_table()
    assert isinstance(table, FreezeTable)
    assert dict(table.limits) == {
        "NIFTY": 1800,
        "BANKNIFTY": 600,
        "FINNIFTY": 1800,
        "MIDCPNIFTY": 2800,
        "NIFTYNXT50": 600,
    }
    assert table.effective == date(2026, 8, 3)
    assert "NSE" in table.source
