"""XTS's pipe-format instrument master to the desk's instruments, and the token mapping."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.brokers.xts.master import (
    MAX_INSTRUMENT_ID,
    parse_index_list,
    parse_master,
    token_of,
    xts_instrument,
)
from engine.brokers.xts.segments import UnknownSegment
from engine.domain.instruments import Exchange, InstrumentType, Segment
from tests.xts_fake.marketdata import master_rows


def test_xts_master_reads_cash_rows_of_22_and_19_columns() -> None:
    result = parse_master("\n".join(master_rows()))
    assert result.errors == []
    symbols = {i.tradingsymbol: i for i in result.instruments}
    reliance, infy = symbols["RELIANCE"], symbols["INFY"]
    assert reliance.token == 738561  # the token Kite gives RELIANCE: one instrument for both
    assert (reliance.exchange, reliance.segment, reliance.instrument_type) == (
        Exchange.NSE,
        Segment.NSE,
        InstrumentType.EQ,
    )
    assert (reliance.tick_size, reliance.lot_size, reliance.freeze_quantity) == (10, 1, None)
    assert reliance.name == "RELIANCE INDUSTRIES LTD-EQ" and reliance.exchange_token == 2885
    assert infy.tick_size == 5 and infy.name == "INFOSYS LIMITED-EQ"


def test_xts_master_reads_options_with_strike_type_expiry_lot_and_freeze_limit() -> None:
    result = parse_master(master_rows(expiry="2026-12-08"))
    options = [i for i in result.instruments if i.is_option]
    assert len(options) == 10
    put = next(i for i in options if i.tradingsymbol == "NIFTY26D0826000PE")
    assert put.instrument_type is InstrumentType.PE and put.segment is Segment.NFO_OPT
    assert put.strike == 2_600_000 and put.expiry == date(2026, 12, 8)
    assert (put.lot_size, put.tick_size, put.underlying) == (65, 5, "NIFTY")
    assert put.freeze_quantity == 1800  # FreezeQty 1801 is the limit plus one
    calls = [i for i in options if i.instrument_type is InstrumentType.CE]
    assert len(calls) == 5


def test_xts_master_reads_futures_and_skips_segments_and_spreads_the_desk_does_not_list() -> None:
    result = parse_master(master_rows())
    futures = [i for i in result.instruments if i.instrument_type is InstrumentType.FUT]
    assert [(f.tradingsymbol, f.segment, f.freeze_quantity) for f in futures] == [
        ("NIFTY26DECFUT", Segment.NFO_FUT, 1800)
    ]
    assert result.skipped_segments == 1  # the MCX gold future
    assert result.skipped_spreads == 1  # the NIFTY calendar spread
    assert len(result.instruments) == 14 and result.errors == []


def test_xts_master_spot_rows_are_indices_with_their_derivatives_underlying() -> None:
    sensex = next(i for i in parse_master(master_rows()).instruments if i.name == "SENSEX")
    assert sensex.instrument_type is InstrumentType.INDEX and not sensex.tradable
    assert (sensex.segment, sensex.exchange, sensex.underlying) == (
        Segment.INDICES,
        Exchange.BSE,
        "SENSEX",
    )
    assert sensex.token == token_of(11, 26065)  # how its events arrive: BSECM 26065


def test_xts_master_futures_rows_of_23_columns_are_futures() -> None:
    future = master_rows()[2].split("|")
    long_row = "|".join([*future[:17], "", "1", *future[17:]])  # empty strike, OptionType 1
    result = parse_master([long_row])
    assert result.errors == [] and result.instruments[0].instrument_type is InstrumentType.FUT
    assert result.instruments[0].strike is None


def test_xts_index_list_entries_become_indices_keyed_as_their_events_arrive() -> None:
    result = parse_index_list(
        {"exchangeSegment": 1, "indexList": ["NIFTY 50_26000", "NIFTY BANK_26001", "bad", "X_"]},
        1,
    )
    nifty, bank = result.instruments
    assert (nifty.token, nifty.underlying, nifty.tradingsymbol) == (
        token_of(1, 26000),
        "NIFTY",
        "NIFTY 50",
    )
    assert bank.underlying == "BANKNIFTY" and bank.segment is Segment.INDICES
    assert result.errors == ["entry 3: 'bad' is not NAME_ID", "entry 4: 'X_' is not NAME_ID"]
    with pytest.raises(ValueError, match="indexList"):
        parse_index_list({"exchangeSegment": 1}, 1)


def test_xts_master_bad_rows_are_skipped_and_reported_by_row_number() -> None:
    rows = master_rows()
    option = rows[4].split("|")
    bad_type = "|".join([*option[:18], "7", *option[19:]])
    bad_tick = rows[0].replace("|0.1|1|1|", "|0.001|1|1|", 1)
    bad_expiry = rows[2].replace("2026-12-08T14:30:00", "08-12-2026")
    lines = [rows[1], "NSECM|1|8|SHORT", bad_type, bad_tick, bad_expiry, "", rows[1], rows[5]]
    result = parse_master("\n".join(lines))
    assert [i.tradingsymbol for i in result.instruments] == ["INFY", "NIFTY26D0825800PE"]
    assert result.errors == [
        "row 2: 4 columns, expected 19, 21, 22 or 23",
        "row 3: OptionType '7' is not 3 (CE) or 4 (PE)",
        "row 4: TickSize '0.001': 0.001 is finer than one paisa",
        "row 5: ContractExpiration '08-12-2026' is not an ISO date-time",
        "row 7: NSE:INFY repeats row 1",
    ]


def test_xts_token_mapping_round_trips_and_matches_kites_layout() -> None:
    assert token_of(2, 35001) == 35001 << 8 | 2
    assert token_of(11, 500325) == 500325 << 8 | 4  # BSE cash: Kite's BSE code
    assert xts_instrument(token_of(12, 1234)) == (12, 1234)
    with pytest.raises(UnknownSegment):
        token_of(51, 445566)
    with pytest.raises(UnknownSegment):
        xts_instrument(1234 << 8 | 9)  # a Kite index token has no XTS segment
    with pytest.raises(ValueError, match="outside"):
        token_of(1, MAX_INSTRUMENT_ID)


@given(
    st.sampled_from([1, 2, 11, 12]),
    st.integers(1, MAX_INSTRUMENT_ID - 1),
    st.sampled_from([1, 2, 11, 12]),
    st.integers(1, MAX_INSTRUMENT_ID - 1),
)
def test_xts_tokens_never_collide_across_segments(s1: int, i1: int, s2: int, i2: int) -> None:
    assert (token_of(s1, i1) == token_of(s2, i2)) == ((s1, i1) == (s2, i2))
    assert xts_instrument(token_of(s1, i1)) == (s1, i1)
