"""Market Watch: several watchlists as tabs; LTP, change, bid/ask, volume, OI with up/down flash.

The watchlists are saved as JSON text, a list of ``[name, [instrument keys]]`` in tab order (a map
in an INI file comes back sorted by name); the map earlier versions saved is still read.

The layout belongs to the profile, not the broker: a saved key this market does not know (another
broker's symbol, an expired contract) is not shown, but it is kept and written back in its place,
so one start on the paper market does not cut down lists built on Kite.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QStyle,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.api import Side
from engine.domain.instruments import Instrument, InstrumentType
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext, TicketRequest
from ui.models.table import ROW_ROLE, Column, RowTableModel
from ui.models.table import _sortable as sort_value  # the value SORT_ROLE sorts by
from ui.panels.instrument_picker import InstrumentPicker, contract_text, strike_text

FLASH_SECONDS = 0.35
RESORT_MS = 1000
"""A sorted watchlist moves its rows at most this often: rows that jump on every tick cannot be
read or clicked, and ordering 500 rows on every frame held the desk's loop."""

log = logging.getLogger(__name__)

Watchlists = list[tuple[str, list[str]]]
"""(tab name, instrument keys such as ``NSE:RELIANCE``), in tab order."""


def watchlists_text(lists: Watchlists) -> str:
    """The saved form: JSON text, tab order kept."""
    return json.dumps([[name, keys] for name, keys in lists], ensure_ascii=False)


def parse_watchlists(saved: object) -> tuple[Watchlists, str | None]:
    """``(lists, None)`` from a saved value (the JSON text, or the map earlier versions saved), or
    ``([], reason)`` when it cannot be read: nothing is guessed from a damaged value."""
    if isinstance(saved, dict):
        items: object = list(saved.items())
    elif isinstance(saved, list):
        items = saved
    else:
        try:
            items = json.loads(str(saved))
        except ValueError:
            return [], "not JSON"
    if not isinstance(items, list):
        return [], "not a list of watchlists"
    lists: Watchlists = []
    for item in items:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            return [], f"an entry is not (name, instruments): {str(item)[:40]}"
        name, keys = item
        if isinstance(keys, str):
            keys = [keys]  # an INI list of one comes back as a plain string
        if not isinstance(name, str) or not name.strip() or not isinstance(keys, list):
            return [], f"watchlist {str(name)[:30]!r} is not a name with instruments"
        if not all(isinstance(key, str) for key in keys):
            return [], f"watchlist {name!r} has an instrument that is not text"
        lists.append((name, keys))
    return lists, None


def with_unshown(shown: list[str], saved: list[str], unshown: list[str]) -> list[str]:
    """The keys to save for a list: those shown, in their order, with each saved key that is not
    shown on this market put back after the shown key it followed in ``saved`` (or first)."""
    on_screen = set(shown)
    missing = set(unshown) - on_screen
    after: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for key in saved:
        if key in missing:
            after.setdefault(anchor, []).append(key)
            missing.discard(key)  # a key saved twice is put back once
        elif key in on_screen:
            anchor = key
    keys = list(after.get(None, []))
    for key in shown:
        keys.append(key)
        keys.extend(after.get(key, []))
    return keys


def watch_label(instrument: Instrument) -> str:
    """The Instrument column: a contract in words with its strike and CE / PE first and the
    expiry last ('NIFTY 26000 CE 24 Nov'), so a narrow column cuts only the date; shares by
    symbol, with BSE named (NSE is the default)."""
    if instrument.expiry is not None:
        strike = "" if instrument.strike is None else f" {strike_text(instrument.strike)}"
        return (
            f"{instrument.underlying}{strike} {instrument.instrument_type} "
            f"{instrument.expiry:%d %b}"
        )
    if instrument.exchange == "BSE":
        return f"{instrument.tradingsymbol} BSE"
    return instrument.tradingsymbol


class QuoteModel(RowTableModel[Instrument]):
    """Rows are instruments; every quote value is read live from the engine's quote cache.

    The model keeps the trader's order (what is saved) apart from the order shown: sorted by a
    column, the rows are ordered here, by each row's value read once, and again at most once a
    second while prices move (a sort proxy compared values through Python on every update)."""

    def __init__(self, context: PanelContext) -> None:
        self._ctx = context
        self._last_ltp: dict[int, int] = {}
        self._flash: dict[int, tuple[bool, float]] = {}
        self._listed: list[Instrument] = []
        self._labels: dict[int, str] = {}
        self._label_fits: Callable[[str], bool] = lambda text: True
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder
        self.stale = False
        """Prices moved while the list was not on screen: repaint and re-sort when shown."""
        quote = context.api.tick
        palette = lambda: context.theme.palette  # noqa: E731 - the palette can change at run time

        def direction(i: Instrument) -> QColor | None:
            change = fmt.change(quote(i.token))
            if change is None or change == 0:
                return None
            return palette().up if change > 0 else palette().down

        def flash(i: Instrument) -> QColor | None:
            state = self._flash.get(i.token)
            if state is None or state[1] < time.monotonic():
                return None
            return palette().flash_up if state[0] else palette().flash_down

        def tick_value(attr: str) -> Callable[[Instrument], int | None]:
            return lambda i: getattr(quote(i.token), attr, None)

        columns = [
            Column(
                "Instrument",
                self.label,
                tooltip=lambda i: f"{i.key}  {contract_text(i, year=True)}",
            ),
            Column("LTP", tick_value("ltp"), fmt.paise, "right", direction, flash),
            Column("Chg", lambda i: fmt.change(quote(i.token)), fmt.money, "right", direction),
            Column(
                "%Chg",
                lambda i: fmt.change_percent(quote(i.token)),
                fmt.percent,
                "right",
                direction,
            ),
            Column("Bid", tick_value("bid"), fmt.paise, "right"),
            Column("Ask", tick_value("ask"), fmt.paise, "right"),
            Column("Bid qty", tick_value("bid_qty"), fmt.lakh_count, "right"),
            Column("Ask qty", tick_value("ask_qty"), fmt.lakh_count, "right"),
            Column("Volume", tick_value("volume"), fmt.lakh_count, "right"),
            Column("OI", tick_value("oi"), fmt.lakh_count, "right"),
        ]
        super().__init__(columns, key=lambda i: i.token)
        self._resort_timer = QTimer(self, singleShot=True, interval=RESORT_MS)
        self._resort_timer.timeout.connect(self._show_sorted)

    @property
    def rows(self) -> list[Instrument]:
        """The list in the trader's order (as saved), whatever column it is sorted by."""
        return list(self._listed)

    def set_rows(self, rows) -> None:  # type: ignore[no-untyped-def]
        """Show ``rows`` once each (a saved list can name one twice), streaming only what is
        added and letting go of what is removed."""
        firsts: dict[int, Instrument] = {}
        for instrument in rows:
            firsts.setdefault(instrument.token, instrument)
        unique = list(firsts.values())
        before = {instrument.token for instrument in self._listed}
        after = {instrument.token for instrument in unique}
        added = [i.token for i in unique if i.token not in before]
        removed = [token for token in before if token not in after]
        # Remember the price each row is first shown at, so its first move already flashes.
        for token in added:
            tick = self._ctx.api.tick(token)
            if tick is not None:
                self._last_ltp.setdefault(token, tick.ltp)
        for token in removed:
            self._last_ltp.pop(token, None)
            self._flash.pop(token, None)
            self._labels.pop(token, None)
        if added:
            self._ctx.api.watch(added)  # a live feed streams only what is shown
        if removed:
            self._ctx.api.unwatch(removed)
        self._listed = unique
        super().set_rows(self._in_shown_order(unique))

    def label(self, instrument: Instrument) -> str:
        """The row's Instrument text, made once (the column repaints many times a second)."""
        text = self._labels.get(instrument.token)
        if text is None:
            text = watch_label(instrument)
            if instrument.expiry is not None and not self._label_fits(text):
                text = text.rsplit(" ", 2)[0]  # the date goes first; the tooltip names it
            self._labels[instrument.token] = text
        return text

    def fit_labels(self, fits: Callable[[str], bool]) -> None:
        """Make each contract's label fit the column as ``fits`` tells."""
        self._label_fits = fits
        self._labels.clear()
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, 0))

    def release(self) -> None:
        """The list is closed: its rows stop streaming (unless something else shows them)."""
        self.set_rows([])

    # -- sorting --------------------------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The header's sort (column -1: the trader's order)."""
        self._sort_column, self._sort_order = column, order
        self._resort_timer.stop()
        self._show_sorted()

    @property
    def sorted_by(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def _show_sorted(self) -> None:
        self.stale = False
        super().set_rows(self._in_shown_order(self._listed))

    def _in_shown_order(self, rows: list[Instrument]) -> list[Instrument]:
        if not 0 <= self._sort_column < len(self.columns):
            return rows
        value = self.columns[self._sort_column].value
        valued = [(value(row), row) for row in rows]
        known = [(sort_value(v), row) for v, row in valued if v is not None]
        known.sort(key=_first, reverse=self._sort_order is Qt.SortOrder.DescendingOrder)
        # Rows without a value yet (no tick) stay last in either direction, in list order.
        return [row for _, row in known] + [row for v, row in valued if v is None]

    # -- prices ---------------------------------------------------------------------------------------

    def on_quotes(self, tokens: set[int]) -> None:
        now = time.monotonic()
        quote = self._ctx.api.tick
        watched = self.keys_shown(tokens)
        for token in watched:
            tick = quote(token)
            if tick is None:
                continue
            last = self._last_ltp.get(token)
            if last is not None and tick.ltp != last:
                self._flash[token] = (tick.ltp > last, now + FLASH_SECONDS)
            self._last_ltp[token] = tick.ltp
        expired = {t for t, (_, until) in self._flash.items() if until < now}
        for token in expired:
            del self._flash[token]
        self.refresh_rows(watched | expired)
        if watched and self._sort_column >= 0 and not self._resort_timer.isActive():
            self._resort_timer.start()

    def catch_up(self) -> None:
        """Shown again: take the prices as they are now (no flash for moves made unseen),
        repaint every row and put them in order."""
        for instrument in self._listed:
            tick = self._ctx.api.tick(instrument.token)
            if tick is not None:
                self._last_ltp[instrument.token] = tick.ltp
        self._flash.clear()
        self.refresh_rows()
        self._show_sorted()


def _first(pair: tuple[object, Instrument]) -> object:
    return pair[0]


_TICKET_KEYS = {Qt.Key.Key_B: Side.BUY, Qt.Key.Key_S: Side.SELL}
_TICKET_MODIFIERS = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier)


class WatchlistView(QTableView):
    instrument_activated = Signal(object)
    ticket_wanted = Signal(object, object)
    """(Side, Instrument): B or S pressed on a row, as on Kite (Shift too)."""

    def __init__(self, model: QuoteModel) -> None:
        super().__init__()
        self.quotes = model
        self.saved_keys: list[str] = []
        """The list's keys as they were loaded, for the place of each key in ``unshown_keys``."""
        self.unshown_keys: list[str] = []
        """Saved keys this market does not know: not shown, but saved with the list."""
        self.setModel(model)  # the model sorts itself (see QuoteModel)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QTableView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # Narrow enough that Bid and Ask are in view in the default layout; a long contract
        # loses the end of its expiry date, never its strike and CE / PE (see watch_label).
        self.setWordWrap(False)  # wrapped, a label loses its whole second line instead
        header.sectionResized.connect(lambda column, _old, _new: column == 0 and self._fit_labels())
        widths = {"Instrument": 140, "Chg": 58, "%Chg": 60}
        for column in range(model.columnCount()):
            title = str(model.headerData(column, Qt.Orientation.Horizontal))
            self.setColumnWidth(column, widths.get(title, 72))
        self.doubleClicked.connect(
            lambda index: self.instrument_activated.emit(self.instrument_at(index))
        )

    def _fit_labels(self) -> None:
        # The room a cell leaves its text: the column less the style's margins either side.
        room = self.columnWidth(0) - 2 * (
            self.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self) + 1
        )
        metrics = self.fontMetrics()
        self.quotes.fit_labels(lambda text: metrics.horizontalAdvance(text) <= room)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit_labels()  # the theme's font came: labels measured with it

    def keyPressEvent(self, event: QKeyEvent) -> None:
        side = _TICKET_KEYS.get(Qt.Key(event.key()))
        if side is not None and event.modifiers() in _TICKET_MODIFIERS:
            instrument = self.current_instrument()
            if instrument is not None:
                self.ticket_wanted.emit(side, instrument)
                event.accept()
                return
        super().keyPressEvent(event)

    def instrument_at(self, index: QModelIndex) -> Instrument | None:
        row = index.data(ROW_ROLE)
        return row if isinstance(row, Instrument) else None

    def selected_instruments(self) -> list[Instrument]:
        rows = {i.row(): i for i in self.selectionModel().selectedRows()}
        return [i for i in (self.instrument_at(rows[r]) for r in sorted(rows)) if i is not None]

    def current_instrument(self) -> Instrument | None:
        return self.instrument_at(self.currentIndex())


INDICES = ["NSE:NIFTY 50", "NSE:NIFTY BANK", "NSE:NIFTY FIN SERVICE"]
STOCKS = [
    "NSE:RELIANCE",
    "NSE:HDFCBANK",
    "NSE:ICICIBANK",
    "NSE:INFY",
    "NSE:TCS",
    "NSE:SBIN",
    "NSE:BHARTIARTL",
    "NSE:ITC",
    "NSE:LT",
    "NSE:AXISBANK",
]


class MarketWatchPanel(QWidget):
    changed = Signal()
    """The trader edited the watchlists (an instrument or a list added, removed or moved)."""

    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self._ctx = context
        self.picker = InstrumentPicker(context.api)
        self.picker.picked.connect(self.add_instrument)
        add_list = QToolButton(text="+ List", toolTip="New watchlist")
        add_list.clicked.connect(self._ask_new_watchlist)
        top = QHBoxLayout()
        top.setContentsMargins(4, 4, 4, 2)
        top.addWidget(self.picker, 1)
        top.addWidget(add_list)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setMovable(True)
        self.tabs.tabBar().tabMoved.connect(lambda _from, _to: self.changed.emit())
        self.tabs.tabBar().setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tabs.tabBar().customContextMenuRequested.connect(self._tab_menu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.unshown_note = QLabel(wordWrap=True, objectName="watchlistUnshown")
        forget = QToolButton(text="Forget them", objectName="forgetUnshown")
        forget.setToolTip("Drop these symbols from the saved watchlist")
        forget.clicked.connect(self.forget_unshown)
        self.unshown_bar = QWidget()
        bar = QHBoxLayout(self.unshown_bar)
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.unshown_note, 1)
        bar.addWidget(forget)
        self.unshown_bar.hide()
        self.tabs.currentChanged.connect(lambda _index: self._on_tab_shown())
        layout.addLayout(top)
        layout.addWidget(self.tabs)
        layout.addWidget(self.unshown_bar)
        remove = QAction("Remove from watchlist", self, shortcut=QKeySequence.StandardKey.Delete)
        remove.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        remove.triggered.connect(self.remove_selected)
        self.addAction(remove)
        alert = QAction("Set alert…", self, shortcut=QKeySequence("Ctrl+Alt+A"))
        alert.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        alert.triggered.connect(lambda: context.set_alert(None))
        self.addAction(alert)
        context.bridge.quotes_changed.connect(self._on_quotes, QUEUED)
        self._show_lists(self._defaults(), keep_unknown=False)  # a default lacking here is dropped

    # -- watchlists ---------------------------------------------------------------------------------

    def _defaults(self) -> Watchlists:
        futures = [i for i in self._ctx.api.instruments if i.instrument_type is InstrumentType.FUT]
        near = [i.key for i in sorted(futures, key=lambda i: (i.underlying, i.expiry))]
        return [
            ("Market", [*INDICES, *near, *STOCKS]),
            ("Indices & F&O", [*INDICES, *near]),
            ("Stocks", STOCKS),
        ]

    def load(self, saved: object) -> str | None:
        """Show the watchlists of a saved value (JSON text, a list of (name, keys) or the older
        map) in its order. A value that cannot be read changes nothing: the lists on screen stay
        as they were and the reason is returned. A key this market does not know is not shown;
        it is named under the list and kept in what is saved (see ``saved_form``)."""
        lists, problem = parse_watchlists(saved)
        if problem is not None:
            return problem
        if lists:
            self._show_lists(lists, keep_unknown=True)
        return None

    def _show_lists(self, lists: Watchlists, *, keep_unknown: bool) -> None:
        # The old lists let go of their rows only once the new ones hold theirs, so a symbol
        # in both keeps streaming without a stop and a start.
        old = [self._view(index) for index in range(self.tabs.count())]
        while self.tabs.count():
            self.tabs.removeTab(0)
        registry = self._ctx.api.instruments
        for name, keys in lists:
            view = self.add_watchlist(name)
            instruments = []
            for key in keys:
                exchange, _, symbol = key.partition(":")
                instrument = registry.by_symbol(exchange, symbol)
                if instrument is not None:
                    instruments.append(instrument)
                elif keep_unknown and key not in view.unshown_keys:
                    view.unshown_keys.append(key)  # an expired contract, or another broker's
            if view.unshown_keys:
                view.saved_keys = list(keys)
                log.info(
                    "watchlist %r: not on this market, kept in the saved list: %s",
                    name,
                    ", ".join(view.unshown_keys),
                )
            view.quotes.set_rows(instruments)  # each instrument once, however often saved
        for view in old:
            self._close_view(view)
        self._show_unshown()

    def _show_unshown(self) -> None:
        """Name, under the watchlist on screen, the saved symbols it does not show here."""
        view = self.tabs.currentWidget()
        unshown = view.unshown_keys if isinstance(view, WatchlistView) else []
        if unshown:
            self.unshown_note.setText(
                "Not found on this market today, so not shown (kept in the saved list): "
                + ", ".join(unshown)
            )
        self.unshown_bar.setVisible(bool(unshown))

    def forget_unshown(self) -> None:
        """The trader's choice: drop the current list's symbols this market does not know."""
        view = self.current_view()
        if view.unshown_keys:
            view.unshown_keys = []
            view.saved_keys = []
            self._show_unshown()
            self.changed.emit()

    def tab_lists(self) -> Watchlists:
        """What the tabs hold, in tab order."""
        return [
            (self.tabs.tabText(i).replace("&&", "&"), [r.key for r in self._view(i).quotes.rows])
            for i in range(self.tabs.count())
        ]

    def watchlists(self) -> dict[str, list[str]]:
        return dict(self.tab_lists())

    def saved_lists(self) -> Watchlists:
        """What is saved: the tabs' lists with the keys not shown on this market put back."""
        saved: Watchlists = []
        for index, (name, shown) in enumerate(self.tab_lists()):
            view = self._view(index)
            saved.append((name, with_unshown(shown, view.saved_keys, view.unshown_keys)))
        return saved

    def saved_form(self) -> str:
        """The watchlists as they are saved (see ``parse_watchlists``)."""
        return watchlists_text(self.saved_lists())

    def add_watchlist(self, name: str) -> WatchlistView:
        view = WatchlistView(QuoteModel(self._ctx))
        view.setAccessibleName(f"Watchlist {name}")
        view.instrument_activated.connect(lambda i: self._open_ticket(Side.BUY, i))
        view.ticket_wanted.connect(self._open_ticket)
        self.tabs.addTab(view, name.replace("&", "&&"))  # '&' would be read as a mnemonic
        return view

    def _tab_menu(self, position) -> None:  # type: ignore[no-untyped-def]
        index = self.tabs.tabBar().tabAt(position)
        if index < 0:
            return
        menu = QMenu(self)
        menu.addAction("New watchlist…", self._ask_new_watchlist)
        remove = menu.addAction(
            f"Remove “{self.tabs.tabText(index).replace('&&', '&')}”",
            lambda: self.remove_watchlist(index),
        )
        remove.setEnabled(self.tabs.count() > 1)
        menu.popup(self.tabs.tabBar().mapToGlobal(position))

    def remove_watchlist(self, index: int) -> None:
        if self.tabs.count() > 1:
            self._drop_tab(index)
            self.changed.emit()

    def _drop_tab(self, index: int) -> None:
        view = self._view(index)
        self.tabs.removeTab(index)
        self._close_view(view)

    @staticmethod
    def _close_view(view: WatchlistView) -> None:
        view.quotes.release()
        view.deleteLater()  # removeTab keeps the view (and its model) alive otherwise

    def _ask_new_watchlist(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("New watchlist")
        dialog.setLabelText("Name:")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # the name comes by the signal
        dialog.textValueSelected.connect(
            lambda name: name.strip() and self._new_and_show(name.strip())
        )
        dialog.open()

    def _new_and_show(self, name: str) -> None:
        self.add_watchlist(name)
        self.tabs.setCurrentIndex(self.tabs.count() - 1)
        self.changed.emit()

    def _view(self, index: int) -> WatchlistView:
        widget = self.tabs.widget(index)
        assert isinstance(widget, WatchlistView)
        return widget

    def current_view(self) -> WatchlistView:
        return self._view(self.tabs.currentIndex())

    @property
    def view(self) -> WatchlistView:
        """The panel's main table, as the table panels call it: the watchlist on screen."""
        return self.current_view()

    def add_instrument(self, instrument: Instrument) -> None:
        model = self.current_view().quotes
        if model.row_of(instrument.token) is None:
            model.set_rows([*model.rows, instrument])
            self._on_quotes({instrument.token})
            self.changed.emit()

    def remove_selected(self) -> None:
        view = self.current_view()
        gone = {i.token for i in view.selected_instruments()}
        if gone:
            view.quotes.set_rows([r for r in view.quotes.rows if r.token not in gone])
            self.changed.emit()

    def selected_instrument(self) -> Instrument | None:
        return self.current_view().current_instrument()

    def _open_ticket(self, side: Side, instrument: Instrument | None) -> None:
        """The ticket F1 / F2 open, for this row (a double click, B or S)."""
        if instrument is not None and instrument.tradable:
            self._ctx.open_ticket(TicketRequest(side, instrument))

    def _on_quotes(self, tokens: set[int]) -> None:
        # Only the list on screen repaints; the others catch up when shown.
        shown = self.tabs.currentWidget()
        for index in range(self.tabs.count()):
            view = self._view(index)
            if view is shown:
                view.quotes.on_quotes(tokens)
            else:
                view.quotes.stale = True

    def _on_tab_shown(self) -> None:
        view = self.tabs.currentWidget()
        if isinstance(view, WatchlistView) and view.quotes.stale:
            view.quotes.catch_up()
        self._show_unshown()
