import pytest

from engine.brokers.xts.segments import UnknownSegment, segment, segment_of
from engine.domain.instruments import Exchange


@pytest.mark.parametrize(
    ("key", "exchange"),
    [("NSECM", Exchange.NSE), (2, Exchange.NFO), ("11", Exchange.BSE), ("bsefo", Exchange.BFO)],
)
def test_segment_by_string_or_integer_names_its_exchange(
    key: str | int, exchange: Exchange
) -> None:
    assert segment(key).exchange is exchange
    assert segment_of(exchange) == segment(key)


@pytest.mark.parametrize("key", ["MCXFO", 51, "3", "", "NSE"])
def test_segment_the_desk_does_not_trade_is_refused_by_name(key: str | int) -> None:
    with pytest.raises(UnknownSegment, match="not one the desk trades"):
        segment(key)
