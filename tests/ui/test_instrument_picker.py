"""The instrument search box: normal queries find the instrument, and a pasted page of text is cut
to a query's length and a few words, so it cannot hold the Qt thread (the engine's loop too).

The work is counted (labels built), not timed: before the bound, 10,000 pasted characters built
each hit's label once per word, half a million labels on the test market.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from engine.domain.instruments import Instrument
from engine.runtime import Engine
from tests.support import atm_call
from ui.context import PanelContext
from ui.panels import instrument_picker
from ui.panels.instrument_picker import (
    MAX_QUERY_LENGTH,
    MAX_QUERY_WORDS,
    InstrumentPicker,
    query_words,
)

PASTED_PAGE = "NIFTY " * 1667  # 10,002 characters of words


def atm_query(engine: Engine) -> tuple[Instrument, str]:
    """The at-the-money NIFTY call and how a trader types it ('nifty 25950 ce')."""
    atm = atm_call(engine)
    assert atm.strike is not None
    return atm, f"nifty {atm.strike // 100} ce"


@pytest.fixture
def picker(
    qtbot: QtBot, context: PanelContext, market: Callable[[float], None]
) -> InstrumentPicker:
    market(1)
    box = InstrumentPicker(context.api)
    qtbot.addWidget(box)
    return box


@pytest.fixture
def labels_built(monkeypatch: pytest.MonkeyPatch) -> list[Instrument]:
    """Every instrument whose label the picker builds, once per build."""
    built: list[Instrument] = []
    label: Callable[[Instrument], str] = instrument_picker._label

    def counted(instrument: Instrument) -> str:
        built.append(instrument)
        return label(instrument)

    monkeypatch.setattr(instrument_picker, "_label", counted)
    return built


def test_instrument_picker_when_strike_and_type_typed_finds_the_nearest_expiry_first(
    picker: InstrumentPicker, engine: Engine
) -> None:
    atm, typed = atm_query(engine)
    hits = picker.search(typed)
    assert hits[0] == atm
    assert all(h.strike == atm.strike and h.instrument_type is atm.instrument_type for h in hits)
    assert picker.search(f"NIFTY {typed} CE") == hits  # repeated words change nothing
    assert picker.search("RELIANCE")[0].tradingsymbol == "RELIANCE"
    assert picker.search("  ") == []


def test_instrument_picker_when_enter_pressed_picks_the_top_hit(
    picker: InstrumentPicker, engine: Engine
) -> None:
    atm, typed = atm_query(engine)
    picked: list[Instrument] = []
    picker.picked.connect(picked.append)
    picker.setText(typed)
    picker.returnPressed.emit()
    assert picked == [atm] and picker.text() == ""


# The completer's popup opens on the pasted text; offscreen Qt cannot give it the keyboard.
@pytest.mark.qt_log_ignore("^This plugin does not support grabbing the keyboard")
def test_instrument_picker_when_a_page_is_pasted_takes_only_a_query_length(
    picker: InstrumentPicker,
) -> None:
    edited: list[str] = []
    picker.textEdited.connect(edited.append)
    QApplication.clipboard().setText(PASTED_PAGE)
    picker.paste()
    assert picker.maxLength() == MAX_QUERY_LENGTH == 100
    assert picker.text() == PASTED_PAGE[:MAX_QUERY_LENGTH]
    assert [len(text) for text in edited] == [MAX_QUERY_LENGTH]


def test_query_words_when_long_or_repeated_uses_the_first_few_distinct_words() -> None:
    assert query_words(PASTED_PAGE) == ["NIFTY", "NIFT"]  # the hundredth character ends a word
    assert query_words("nifty Nifty 27 nov 26000 ce 26000 pe x") == [
        "NIFTY",
        "27",
        "NOV",
        "26000",
        "CE",
        "PE",
    ]
    assert MAX_QUERY_WORDS == 6
    assert query_words("x " * 50 + "NIFTY") == ["X"]  # past the first hundred characters
    assert query_words("   ") == []


def test_instrument_picker_when_a_page_arrives_unbounded_builds_each_label_at_most_once(
    picker: InstrumentPicker, context: PanelContext, labels_built: list[Instrument]
) -> None:
    # What a paste emits if the box's bound is ever bypassed (setText does not emit textEdited).
    picker.textEdited.emit(PASTED_PAGE)
    offered = picker.completer().model()
    shown = [offered.index(row, 0).data() for row in range(offered.rowCount())]
    assert shown and all(label.startswith("NIFTY") for label in shown)
    assert len(labels_built) <= 30  # one search for NIFTY, a label for each hit shown

    # Enter searches again with the text in the box, and scripts call search directly: a page of
    # different words that every NIFTY label contains still builds each label only once.
    labels_built.clear()
    pieces = [w for n in range(5, 0, -1) for w in ("NIFTY"[i : i + n] for i in range(6 - n))]
    assert pieces[0] == "NIFTY" and len(set(pieces)) == 15
    page = " ".join(pieces * 200)
    assert len(page) >= 9_999
    found = picker.search(page)
    assert found and all(hit.underlying == "NIFTY" or "NIFTY" in hit.tradingsymbol for hit in found)
    nifty_hits = context.api.instruments.search("NIFTY", limit=2000)
    assert len(labels_built) == len(set(labels_built)) <= len(nifty_hits)
