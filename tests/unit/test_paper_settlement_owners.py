"""Whose holdings the paper venue settles at expiry, and which units the exchange settles.

The venue keeps each owning strategy's holding of a contract apart and settles each in an order of
its own; the exchange settles only the account's net, so the units by which owners on the two
sides offset each other are filled apart and charged nothing. At a restart the holdings come back
from the journal's fills, each counted for its order's strategy, and the account's nets stay what
the position book says.
"""

from __future__ import annotations

import pytest

from engine.brokers.paper.holdings import holdings_from_journal
from engine.brokers.paper.settlement import netted_shares
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.orders import Product, Side
from engine.domain.origin import StrategyId
from engine.domain.values import Paise

A, B, C = StrategyId("ml.A"), StrategyId("ml.B"), StrategyId("algo.C")
CALL = InstrumentToken(101)
FUTURE = InstrumentToken(202)


@pytest.mark.parametrize(
    ("owners", "shares"),
    [
        pytest.param([(None, 65)], [(None, 65, 0)], id="one-owner-settles-all"),
        pytest.param(
            [(A, -65), (None, 130)],
            [(None, 130, 65), (A, -65, 65)],
            id="a-short-offsets-part-of-a-long",
        ),
        pytest.param(
            [(None, 65), (A, -65)], [(None, 65, 65), (A, -65, 65)], id="a-flat-account-settles-none"
        ),
        pytest.param([(A, 65), (B, 65)], [(A, 65, 0), (B, 65, 0)], id="longs-together-settle-all"),
        pytest.param(
            [(B, 65), (C, -65), (A, 130)],
            [(C, -65, 65), (A, 130, 0), (B, 65, 65)],
            id="the-largest-on-the-nets-side-settles-first",
        ),
        pytest.param(
            [(A, -130), (None, 65)],
            [(None, 65, 65), (A, -130, 65)],
            id="a-net-short-account",
        ),
    ],
)
def test_expiry_settlement_owners_when_they_hold_both_sides_only_the_account_net_is_settled(
    owners: list[tuple[StrategyId | None, int]], shares: list[tuple[StrategyId | None, int, int]]
) -> None:
    found = netted_shares(owners)
    assert found == shares
    settled = sum((abs(net) - netted) * (1 if net > 0 else -1) for _owner, net, netted in found)
    assert settled == sum(net for _owner, net in owners)  # exactly the account's net


def fill(order: str, token: InstrumentToken, side: Side, quantity: int) -> OrderFilled:
    return OrderFilled(
        OrderId(order), 0, TradeId(f"T{order}"), token, side, Product.NRML, quantity, Paise(100)
    )


def test_expiry_settlement_owners_when_restored_from_the_journal_each_fill_counts_for_its_strategy() -> (
    None
):
    fills = [
        fill("o1", CALL, Side.SELL, 65),  # the portfolio A's leg
        fill("o2", CALL, Side.BUY, 130),  # the trader's
        fill("o3", FUTURE, Side.BUY, 75),  # algo C's
        fill("o4", FUTURE, Side.SELL, 75),  # the venue's intraday square-off (no strategy)
    ]
    owners = {OrderId("o1"): A, OrderId("o3"): C}
    account = {
        (CALL, Product.NRML): 65,
        (FUTURE, Product.NRML): 0,
        (InstrumentToken(303), Product.NRML): 50,  # held with no fill in this journal
    }

    holdings = holdings_from_journal(account, fills, owners)

    assert holdings == {
        (CALL, Product.NRML, A): -65,
        (CALL, Product.NRML, None): 130,
        (FUTURE, Product.NRML, C): 75,
        (FUTURE, Product.NRML, None): -75,
        (InstrumentToken(303), Product.NRML, None): 50,
    }
    for (token, product), net in account.items():
        assert sum(n for (t, p, _o), n in holdings.items() if (t, p) == (token, product)) == net
