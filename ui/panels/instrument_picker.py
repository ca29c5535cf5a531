"""A search box over the instruments registry: type 'nifty 26000 ce' or 'RELIANCE', pick with Enter."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from engine.api import EngineApi
from engine.domain.instruments import Instrument

MAX_QUERY_LENGTH = 100
"""Characters of a query that are read: a symbol, strike, CE/PE and expiry fit many times over.
The search runs on the Qt thread, which is also the engine's loop, so a pasted page must not
hold it."""
MAX_QUERY_WORDS = 6
"""Distinct words of a query that are used ('nifty 27 nov 26000 ce' is five)."""
_NARROWED_HITS = 2000
"""Hits for the first word that the other words then narrow."""


def query_words(text: str) -> list[str]:
    """The words of ``text`` a search uses: upper-cased, first occurrences only, bounded."""
    words = dict.fromkeys(text[:MAX_QUERY_LENGTH].upper().split())
    return list(words)[:MAX_QUERY_WORDS]


class InstrumentPicker(QLineEdit):
    picked = Signal(object)
    """the chosen Instrument"""

    def __init__(self, api: EngineApi, parent: QWidget | None = None, limit: int = 30) -> None:
        super().__init__(parent)
        self._api = api
        self._limit = limit
        self._found: dict[str, Instrument] = {}
        self.setMaxLength(MAX_QUERY_LENGTH)
        self.setPlaceholderText("Search instrument (e.g. NIFTY 26000 CE, RELIANCE)")
        self.setClearButtonEnabled(True)
        self._model = QStringListModel(self)
        completer = QCompleter(self._model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setMaxVisibleItems(15)
        completer.activated.connect(self._on_activated)
        self.setCompleter(completer)
        self.textEdited.connect(self._search)
        self.returnPressed.connect(self._on_return)

    def search(self, text: str) -> list[Instrument]:
        return [instrument for _, instrument in self._labelled_hits(text)]

    def _labelled_hits(self, text: str) -> list[tuple[str, Instrument]]:
        """The best hits for ``text`` with their labels; each hit's label is built once."""
        words = query_words(text)
        if not words:
            return []
        needle, *narrowing = words
        # The registry matches one needle; extra words narrow the hits (strike, CE/PE, expiry).
        hits = self._api.instruments.search(
            needle, limit=_NARROWED_HITS if narrowing else self._limit
        )
        found: list[tuple[str, Instrument]] = []
        for instrument in hits:
            label = _label(instrument)
            searchable = label.upper()
            if all(word in searchable for word in narrowing):
                found.append((label, instrument))
                if len(found) == self._limit:
                    break
        return found

    def _search(self, text: str) -> None:
        self._found = dict(self._labelled_hits(text))
        self._model.setStringList(list(self._found))

    def _on_activated(self, label: str) -> None:
        instrument = self._found.get(label)
        if instrument is not None:
            self.picked.emit(instrument)
            self.clear()

    def _on_return(self) -> None:
        if self.text() in self._found:
            self._on_activated(self.text())
            return
        hits = self.search(self.text())
        if hits:
            self.picked.emit(hits[0])
            self.clear()


def _label(instrument: Instrument) -> str:
    if instrument.strike is not None and instrument.expiry is not None:
        return (
            f"{instrument.tradingsymbol}  {instrument.underlying} {instrument.expiry:%d %b} "
            f"{instrument.strike // 100} {instrument.instrument_type}"
        )
    if instrument.expiry is not None:
        return f"{instrument.tradingsymbol}  {instrument.underlying} {instrument.expiry:%d %b} FUT"
    return f"{instrument.tradingsymbol}  {instrument.name}"
