"""A search box over the instruments registry: type 'nifty 26000 ce' or 'RELIANCE', pick with Enter."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from engine.api import EngineApi
from engine.domain.instruments import Instrument


class InstrumentPicker(QLineEdit):
    picked = Signal(object)
    """the chosen Instrument"""

    def __init__(self, api: EngineApi, parent: QWidget | None = None, limit: int = 30) -> None:
        super().__init__(parent)
        self._api = api
        self._limit = limit
        self._found: dict[str, Instrument] = {}
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
        words = text.upper().split()
        if not words:
            return []
        # The registry matches one needle; extra words narrow the hits (strike, CE/PE, expiry).
        hits = self._api.instruments.search(words[0], limit=2000 if len(words) > 1 else self._limit)
        for word in words[1:]:
            hits = [i for i in hits if word in _label(i).upper()]
        return hits[: self._limit]

    def _search(self, text: str) -> None:
        hits = self.search(text)
        self._found = {_label(i): i for i in hits}
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
