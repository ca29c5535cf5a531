"""Market Watch under load and on a live feed: a sorted list re-orders at most about once a
second, a list not on screen is not repainted until shown, a saved duplicate is one row, B / S open
the ticket, a contract's label keeps its strike and CE / PE, and on Kite a removed row stops
streaming while what the ticket shows, or an alert watches, keeps streaming."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from engine.api import Side
from engine.credentials import CredentialStore
from engine.domain.instruments import InstrumentType
from engine.runtime import Engine
from tests.kite_desk import (
    ADANIPORTS,
    KiteDesk,
    adaniports_kite,
    open_desk,
    wait_for,
)
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring
from tests.support import atm_call
from ui.context import PanelContext, TicketRequest
from ui.panels.instrument_picker import strike_text
from ui.panels.market_watch import RESORT_MS, MarketWatchPanel

PCT_CHG = 3


def watch_panel(qtbot: QtBot, context: PanelContext) -> MarketWatchPanel:
    panel = MarketWatchPanel(context)
    qtbot.addWidget(panel)
    panel.resize(700, 600)
    panel.show()
    return panel


def test_market_watch_when_sorted_and_prices_move_reorders_at_most_once_a_second(
    qtbot: QtBot, context: PanelContext, market: Callable[[float], None]
) -> None:
    market(1)
    panel = watch_panel(qtbot, context)
    view = panel.current_view()
    built_order = [i.key for i in view.quotes.rows]
    view.sortByColumn(PCT_CHG, Qt.SortOrder.DescendingOrder)
    moves: list[float] = []
    shown = view.model()
    shown.layoutChanged.connect(lambda *_: moves.append(time.monotonic()))
    shown.rowsMoved.connect(lambda *_: moves.append(time.monotonic()))
    started = time.monotonic()
    frames = 0
    while time.monotonic() - started < 2.5:  # prices move on every frame, for 2.5 s
        market(0.25)
        qtbot.wait(40)
        frames += 1
    elapsed = time.monotonic() - started
    assert frames >= 10
    assert 1 <= len(moves) <= elapsed * 1000 / RESORT_MS + 1, (len(moves), frames)
    qtbot.wait(RESORT_MS + 200)  # the last moves are put in order within a second
    shown_pct = [shown.index(r, PCT_CHG).data(Qt.ItemDataRole.UserRole + 1) for r in range(16)]
    known = [v for v in shown_pct if v != float("-inf")]
    assert known == sorted(known, reverse=True) and len(known) > 10
    assert [i.key for i in view.quotes.rows] == built_order  # what is saved keeps its order


def test_market_watch_when_a_tab_is_hidden_repaints_it_only_when_shown(
    qtbot: QtBot, context: PanelContext, market: Callable[[float], None]
) -> None:
    panel = watch_panel(qtbot, context)
    assert panel.tabs.currentIndex() == 0
    hidden = panel._view(1).quotes
    repaints: list[object] = []
    hidden.dataChanged.connect(lambda *a: repaints.append(a))
    shown_repaints: list[object] = []
    panel.current_view().quotes.dataChanged.connect(lambda *a: shown_repaints.append(a))
    market(2)
    qtbot.waitUntil(lambda: bool(shown_repaints), timeout=2000)
    qtbot.wait(100)
    assert repaints == [] and hidden.stale
    panel.tabs.setCurrentIndex(1)
    assert repaints and not hidden.stale
    ltp = hidden.index(0, 1).data()
    assert ltp and ltp.replace(",", "") == f"{context.api.quote(hidden.rows[0].token).ltp}"


def test_market_watch_when_a_saved_list_repeats_an_instrument_shows_it_once(
    qtbot: QtBot, context: PanelContext
) -> None:
    panel = watch_panel(qtbot, context)
    saved = ["NSE:RELIANCE", "NSE:INFY", "NSE:RELIANCE", "nse:reliance", "NSE:Reliance"]
    assert panel.load(json.dumps([["W", saved]])) is None
    model = panel.current_view().quotes
    assert [i.key for i in model.rows] == ["NSE:RELIANCE", "NSE:INFY"]
    assert model.rowCount() == 2
    assert json.loads(panel.saved_form()) == [["W", ["NSE:RELIANCE", "NSE:INFY"]]]
    panel.current_view().selectRow(0)
    panel.remove_selected()
    assert [i.key for i in model.rows] == ["NSE:INFY"]


# Typing in the search box opens its popup; offscreen Qt cannot give it the keyboard.
@pytest.mark.qt_log_ignore("^This plugin does not support grabbing the keyboard")
def test_market_watch_when_b_or_s_pressed_on_a_row_opens_the_ticket_as_f1_f2_do(
    qtbot: QtBot, context: PanelContext
) -> None:
    asked: list[TicketRequest] = []
    context.open_ticket = asked.append
    panel = watch_panel(qtbot, context)
    view = panel.current_view()
    row = next(r for r, i in enumerate(view.quotes.rows) if i.tradingsymbol == "RELIANCE")
    view.setFocus()
    view.setCurrentIndex(view.model().index(row, 0))
    for key, modifier in [
        (Qt.Key.Key_B, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_S, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier),
        (Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier),
    ]:
        qtbot.keyClick(view, key, modifier)
    assert [(r.side, r.instrument and r.instrument.key) for r in asked] == [
        (Side.BUY, "NSE:RELIANCE"),
        (Side.SELL, "NSE:RELIANCE"),
        (Side.BUY, "NSE:RELIANCE"),
        (Side.SELL, "NSE:RELIANCE"),
    ]
    qtbot.keyClicks(panel.picker, "bs")  # typing a search opens nothing
    assert len(asked) == 4 and panel.picker.text() == "bs"


def test_market_watch_when_an_option_is_listed_its_label_keeps_strike_and_type(
    qtbot: QtBot, context: PanelContext, engine: Engine, market: Callable[[float], None]
) -> None:
    market(1)
    panel = watch_panel(qtbot, context)
    option = atm_call(engine)
    assert option.strike is not None and option.expiry is not None
    panel.add_instrument(option)
    view = panel.current_view()
    cell = view.model().index(view.quotes.row_of(option.token), 0)
    contract = f"NIFTY {strike_text(option.strike)} CE"
    label = cell.data()
    assert label.startswith(contract)
    assert view.fontMetrics().horizontalAdvance(label) <= view.columnWidth(0)  # nothing is cut
    assert cell.data(Qt.ItemDataRole.ToolTipRole).startswith(option.key)
    view.setColumnWidth(0, 400)  # widened, the expiry date is shown too
    assert cell.data() == f"{contract} {option.expiry:%d %b}"


# -- on Kite: only what is shown streams ---------------------------------------------------------------


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


@pytest.fixture
async def desk(kite: FakeKite, tmp_path: Path) -> AsyncIterator[KiteDesk]:
    store = CredentialStore("ui", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    desk = await open_desk(kite, store, tmp_path / "book.db")
    yield desk
    await desk.stop()


@pytest.mark.timeout(60)
async def test_market_watch_when_a_row_is_removed_on_kite_stops_streaming_it_unless_still_needed(
    qapp, kite: FakeKite, desk: KiteDesk
) -> None:
    from ui.bridge import EngineBridge
    from ui.panels.order_ticket import OrderTicket
    from ui.theme import ThemeHolder

    api = desk.engine.api
    bridge = EngineBridge(api)
    context = PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark"))
    panel = MarketWatchPanel(context)
    ticket = OrderTicket(context)
    try:
        shown = {i.token for i in panel.current_view().quotes.rows}
        adani = api.instruments.get(ADANIPORTS)
        others = [
            i
            for i in api.instruments
            if i.instrument_type is InstrumentType.EQ and i.token not in shown | {ADANIPORTS}
        ]
        kept, third = others[0], others[1]
        panel.add_instrument(adani)
        panel.add_instrument(kept)
        await wait_for(
            lambda: {ADANIPORTS, kept.token} <= set(kite.ticker.subscribed()), what="subscribed"
        )
        ticket.set_instrument(kept)  # the ticket shows it too
        view = panel.current_view()
        for instrument in (adani, kept):
            view.selectionModel().select(
                view.model().index(view.quotes.row_of(instrument.token), 0),
                view.selectionModel().SelectionFlag.Select
                | view.selectionModel().SelectionFlag.Rows,
            )
        panel.remove_selected()
        await wait_for(lambda: ADANIPORTS not in kite.ticker.subscribed(), what="unsubscribed")
        assert kept.token in kite.ticker.subscribed()  # the ticket still needs its prices

        kite.ticker.received.clear()
        panel.add_instrument(third)  # an add asks for the new row only, not the whole list
        await wait_for(lambda: third.token in kite.ticker.subscribed(), what="third")
        asked = [m["v"] for m in kite.ticker.received if m.get("a") == "subscribe"]
        assert asked == [[third.token]]

        api.add_alert("crosses_above", "100000", token=third.token)  # an alert needs its prices
        view.clearSelection()
        view.selectRow(view.quotes.row_of(third.token))
        panel.remove_selected()
        assert third.token not in {i.token for i in view.quotes.rows}
        await asyncio.sleep(0.3)
        assert third.token in kite.ticker.subscribed()
    finally:
        bridge.stop()
        ticket.deleteLater()
        panel.deleteLater()


def test_market_watch_when_the_also_window_cannot_read_its_lists_tells_the_trader(
    qtbot: QtBot, engine: Engine, tmp_path: Path
) -> None:
    from app.gui import account_window, settings_path
    from engine.api import EngineMessage
    from engine.settings import SettingsStore
    from ui.layout_store import LayoutStore

    profile = f"also-{tmp_path.name}"
    layout = settings_path(profile).with_name(f"layout-{engine.config.broker}.ini")
    saved = LayoutStore(layout)
    saved.set_value("watchlists_ordered", "{not json")
    saved.sync()
    said: list[EngineMessage] = []
    engine.api.subscribe(EngineMessage, said.append)
    window = account_window(engine, profile, SettingsStore(), lambda: None)
    qtbot.addWidget(window)
    try:
        texts = [m.text for m in said if m.source == "layout"]
        assert len(texts) == 1 and "watchlists" in texts[0] and "could not be read" in texts[0]
        assert str(layout) in texts[0] and "account window" in texts[0]
        assert LayoutStore(layout).value("watchlists_unreadable") == "{not json"  # kept
    finally:
        window.stop()
