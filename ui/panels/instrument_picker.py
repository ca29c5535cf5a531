"""A search box over the instruments registry: type 'nifty 26000 ce' or 'RELIANCE', pick with Enter.

A query is read the way a trader types a contract: an underlying the registry lists (NIFTY,
RELIANCE; "bank nifty" is BANKNIFTY), a strike, CE / PE / FUT, an expiry month with or without its
day ('29 dec', 'jan') and a year. Those parts ask the registry's structured search, which reaches
every expiry of a full Kite master at once. Anything else is free text: a company name, a
tradingsymbol ('NIFTY26D0125800CE'), the start of a word.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from engine.api import EngineApi
from engine.domain.instruments import Instrument, InstrumentType

MAX_QUERY_LENGTH = 100
"""Characters of a query that are read: a symbol, strike, CE/PE and expiry fit many times over.
The search runs on the Qt thread, which is also the engine's loop, so a pasted page must not
hold it."""
MAX_QUERY_WORDS = 6
"""Distinct words of a query that are used ('nifty 27 nov 26000 ce' is five)."""
_FIRST_HITS = 300
_NARROWED_HITS = 2000
"""Free text: hits for the first word that the other words then narrow (the first few hundred,
then more if those are not enough)."""
_STRIKE_HITS = 1000
"""Structured: one strike of one underlying over every expiry (a few dozen on a Kite master)."""
_EXPIRY_HITS = 5000
"""Structured: one expiry of one underlying, when more than its first hits are narrowed."""
_EXPIRIES_WHILE_TYPING = 3
"""Expiries searched for strikes that start with digits still being typed ('nifty 260'); the
whole strike finds it in every expiry."""
_UNDERLYINGS_BY_PREFIX = 12
"""Underlyings tried for a word that starts several ('tata 700 ce')."""

_KIND_WORDS = {
    "CE": InstrumentType.CE,
    "CALL": InstrumentType.CE,
    "PE": InstrumentType.PE,
    "PUT": InstrumentType.PE,
    "FUT": InstrumentType.FUT,
    "FUTURE": InstrumentType.FUT,
    "FUTURES": InstrumentType.FUT,
}
_KIND_STARTS = {
    "C": InstrumentType.CE,
    "P": InstrumentType.PE,
    "F": InstrumentType.FUT,
    "FU": InstrumentType.FUT,
}
"""A kind half typed after a strike or a month ('nifty 26000 c')."""
_MONTHS = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
_NUMBER = re.compile(r"\d{1,9}(?:\.\d{1,2})?")


def query_words(text: str) -> list[str]:
    """The words of ``text`` a search uses: upper-cased, first occurrences only, bounded."""
    words = dict.fromkeys(text[:MAX_QUERY_LENGTH].upper().split())
    return list(words)[:MAX_QUERY_WORDS]


def month_of(word: str, *, typing: bool = False) -> int | None:
    """1-12 for a month's name or its start of three letters or more ('DEC', 'SEPT'); with
    ``typing`` (the last word, still being typed) also a shorter start only one month has
    ('DE', 'JA', but not 'MA')."""
    if len(word) < (2 if typing else 3):
        return None
    months = [number for number, name in enumerate(_MONTHS, start=1) if name.startswith(word)]
    return months[0] if len(months) == 1 else None


def strike_paise(digits: str) -> int | None:
    """A typed strike ('26000', '7.5') in paise, as instruments carry it."""
    try:
        rupees = Decimal(digits)
    except InvalidOperation:
        return None
    paise = rupees * 100
    return int(paise) if paise == paise.to_integral_value() else None


def strike_text(paise: int) -> str:
    """A strike in rupees as a trader writes it: 26000, 7.5, 2.25."""
    rupees, rest = divmod(paise, 100)
    return str(rupees) if rest == 0 else f"{rupees}.{rest:02d}".rstrip("0")


@dataclass(slots=True)
class ParsedQuery:
    """A query's words sorted into the parts of a contract."""

    underlyings: list[str] = field(default_factory=list)
    """The underlying named (one), or those a word starts (several), or none."""
    strike: str | None = None
    """The strike's digits as typed."""
    kind: InstrumentType | None = None
    month: int | None = None
    day: int | None = None
    year: int | None = None
    day_or_year: int | None = None
    """A number after the month ('dec 29', 'dec 26'): a day if an expiry has it, else a year."""
    words: list[str] = field(default_factory=list)
    """Other words, each of which the symbol or the name must contain."""

    @property
    def names_an_expiry(self) -> bool:
        return (self.month, self.day, self.year, self.day_or_year) != (None, None, None, None)

    @property
    def is_structured(self) -> bool:
        return bool(self.underlyings) and (
            self.strike is not None or self.kind is not None or self.names_an_expiry
        )

    def expiries(self, listed: Sequence[date]) -> list[date]:
        """Those of ``listed`` (nearest first) the query's month, day and year allow."""
        chosen = [
            e
            for e in listed
            if (self.month is None or e.month == self.month)
            and (self.day is None or e.day == self.day)
            and (self.year is None or e.year == self.year)
        ]
        if self.day_or_year is not None:
            as_day = [e for e in chosen if e.day == self.day_or_year]
            as_year = [e for e in chosen if e.year == 2000 + self.day_or_year]
            chosen = as_day or as_year
        return chosen

    def accepts(self, instrument: Instrument, expiries: Container[date] | None = None) -> bool:
        """Whether ``instrument`` has every part of the query besides the underlying;
        ``expiries``: those the query allows, when they are known (else each is judged alone)."""
        if self.kind is not None and instrument.instrument_type is not self.kind:
            return False
        if self.names_an_expiry:
            expiry = instrument.expiry
            if expiry is None:
                return False
            if not (expiry in expiries if expiries is not None else self.expiries([expiry])):
                return False
        if self.strike is not None and not _has_number(instrument, self.strike):
            return False
        return _has_words(instrument, self.words)


def parse_query(words: Sequence[str], underlyings: Sequence[str]) -> ParsedQuery:
    """Sort ``words`` (upper-cased) into a contract's parts; ``underlyings`` sorted."""
    listed = set(underlyings)
    query = ParsedQuery()
    rest = list(words)
    for first, second in itertools.pairwise(words):
        if first + second in listed:  # "BANK NIFTY"
            query.underlyings = [first + second]
            rest = [w for w in rest if w not in (first, second)]
            break
    else:
        named = next((w for w in words if w in listed), None)
        if named is not None:
            query.underlyings = [named]
            rest.remove(named)
    numbers: list[str] = []
    month_at: int | None = None
    free: list[str] = []
    for word in rest:
        if word in _KIND_WORDS and query.kind is None:
            query.kind = _KIND_WORDS[word]
        elif _NUMBER.fullmatch(word):
            numbers.append(word)
        elif month_at is None and (month := month_of(word, typing=word == words[-1])) is not None:
            query.month, month_at = month, len(numbers)
        else:
            free.append(word)
    if query.kind is None and free and free[-1] in _KIND_STARTS and free[-1] == words[-1]:
        query.kind = _KIND_STARTS[free.pop()]
    if month_at is not None:
        numbers = _expiry_numbers(query, numbers, month_at)
    if numbers:
        query.strike = numbers.pop()
        for number in numbers:
            if number.isdigit() and 1 <= int(number) <= 31 and query.day is None:
                query.day = int(number)
            else:
                free.append(number)
    if not query.underlyings and (
        query.strike is not None or query.kind is not None or query.names_an_expiry
    ):
        # 'persis 2500 pe', 'hdfc bank 1700 ce': a word that starts underlyings names them
        for word in free:
            started = _underlyings_started_by(word, underlyings)
            if started:
                query.underlyings = started
                free.remove(word)
                break
    query.words = free
    return query


def _expiry_numbers(query: ParsedQuery, numbers: list[str], month_at: int) -> list[str]:
    """Take the day before the month and the day or year after it; the other numbers stay."""
    left = list(numbers)
    before = numbers[month_at - 1] if month_at > 0 else None
    after = numbers[month_at] if month_at < len(numbers) else None
    if before is not None and before.isdigit() and 1 <= int(before) <= 31:
        query.day = int(before)
        left.remove(before)
    if after is not None and after.isdigit():
        value = int(after)
        if len(after) == 4 and 2000 <= value <= 2099:
            query.year = value
            left.remove(after)
        elif 1 <= value <= 31 and query.day is None:
            query.day_or_year = value
            left.remove(after)
        elif len(after) == 2 and query.day is not None:
            query.year = 2000 + value
            left.remove(after)
    return left


def _underlyings_started_by(word: str, underlyings: Sequence[str]) -> list[str]:
    start = bisect.bisect_left(underlyings, word)
    started: list[str] = []
    for name in underlyings[start : start + _UNDERLYINGS_BY_PREFIX]:
        if not name.startswith(word):
            break
        started.append(name)
    return started


def _has_number(instrument: Instrument, digits: str) -> bool:
    """The strike is the number exactly, or (free text) the symbol holds its digits."""
    paise = strike_paise(digits)
    if paise is not None and instrument.strike == paise:
        return True
    return digits in instrument.tradingsymbol.upper()


def _has_words(instrument: Instrument, words: Iterable[str]) -> bool:
    symbol = instrument.tradingsymbol.upper()
    name = instrument.name.upper()
    return all(word in symbol or word in name for word in words)


class InstrumentPicker(QLineEdit):
    picked = Signal(object)
    """the chosen Instrument"""
    not_found = Signal(str)
    """Enter on a query that finds nothing (the query)"""

    def __init__(self, api: EngineApi, parent: QWidget | None = None, limit: int = 30) -> None:
        super().__init__(parent)
        self._api = api
        self._limit = limit
        self._found: dict[str, Instrument] = {}
        self.setMaxLength(MAX_QUERY_LENGTH)
        self.setPlaceholderText("Search instrument (e.g. NIFTY 26000 CE, NIFTY JAN 26000 PE)")
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
        """The best hits for ``text``, best first: the parts of a contract when it names one,
        else free text."""
        words = query_words(text)
        if not words:
            return []
        query = parse_query(words, self._api.instruments.underlyings())
        if query.is_structured:
            hits = self._structured(query)
            if hits:
                return hits
        return self._free_text(words, query)

    def _structured(self, query: ParsedQuery) -> list[Instrument]:
        found: list[Instrument] = []
        for underlying in query.underlyings:
            found.extend(self._of_underlying(underlying, query))
        if len(query.underlyings) > 1:
            found.sort(key=_nearest_first)
        return found[: self._limit]

    def _of_underlying(self, underlying: str, query: ParsedQuery) -> list[Instrument]:
        instruments = self._api.instruments
        listed = instruments.expiries(underlying)
        expiries = query.expiries(listed) if query.names_an_expiry else listed
        if not expiries:
            return []
        allowed = set(expiries)
        paise = None if query.strike is None else strike_paise(query.strike)
        if paise is not None or query.kind is InstrumentType.FUT:
            # A strike, or the futures, are a few rows of every expiry: one look-up finds them.
            hits = instruments.search(
                underlying=underlying,
                strike=paise,
                instrument_type=query.kind,
                limit=_STRIKE_HITS,
            )
            exact = [h for h in hits if query.accepts(h, allowed)]
            if exact or paise is None:
                return exact[: self._limit]
        # An expiry at a time, nearest first, until enough are found.
        if query.strike is not None and not query.names_an_expiry:
            expiries = expiries[:_EXPIRIES_WHILE_TYPING]
        narrowed = query.strike is not None or bool(query.words)
        found: list[Instrument] = []
        for expiry in expiries:
            hits = instruments.search(
                underlying=underlying,
                expiry=expiry,
                instrument_type=query.kind,
                limit=_EXPIRY_HITS if narrowed else self._limit - len(found),
            )
            if query.strike is not None:
                hits = [h for h in hits if _strike_starts(h, query.strike)]
            found.extend(h for h in hits if _has_words(h, query.words))
            if len(found) >= self._limit:
                break
        return found[: self._limit]

    def _free_text(self, words: list[str], query: ParsedQuery) -> list[Instrument]:
        """The registry matches one needle; the other words narrow its hits, each by its kind:
        CE / PE / FUT the instrument's type, a number its strike or its symbol's digits, a
        month its expiry, any other word the symbol or the name (never the label's other parts,
        so 'PE' is not found in 'PERSISTENT')."""
        needle, *narrowing = words
        if not narrowing:
            return self._api.instruments.search(needle, limit=self._limit)
        checks = ParsedQuery(
            kind=query.kind,
            month=query.month,
            day=query.day,
            year=query.year,
            day_or_year=query.day_or_year,
        )
        numbers = [w for w in narrowing if _NUMBER.fullmatch(w) and _free_number(w, query)]
        plain = [
            w
            for w in narrowing
            if not _NUMBER.fullmatch(w) and w not in _KIND_WORDS and not _is_month(w, query)
        ]
        if query.kind is not None and plain and plain[-1] in _KIND_STARTS:
            plain.pop()  # the half-typed kind the query already holds
        found: list[Instrument] = []
        # The first hits are usually enough ('tata motors': TATAMOTORS is among TATA's first);
        # only when they are not is the needle searched further.
        # An underlying's own contracts are its symbol's first hits; a search further only
        # finds the word inside other names.
        stages = (_FIRST_HITS,) if needle in query.underlyings else (_FIRST_HITS, _NARROWED_HITS)
        for wanted in stages:
            hits = self._api.instruments.search(needle, limit=wanted)
            found = [
                instrument
                for instrument in hits
                if checks.accepts(instrument)
                and all(_has_number(instrument, n) for n in numbers)
                and _has_words(instrument, plain)
            ][: self._limit]
            if len(found) == self._limit or len(hits) < wanted:
                break
        return found

    def _labelled_hits(self, text: str) -> list[tuple[str, Instrument]]:
        """The best hits for ``text`` with their labels; each hit's label is built once. The
        labels name the exchange, so NSE's and BSE's INFY are two lines the popup keeps apart."""
        labelled: dict[str, Instrument] = {}
        for instrument in self.search(text):
            label = _label(instrument)
            if label in labelled:  # not expected (symbol and exchange are unique), but never lost
                label = f"{label}  #{instrument.token}"
            labelled[label] = instrument
        return list(labelled.items())

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
        elif self.text().strip():
            self.not_found.emit(self.text())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        popup_open = self.completer().popup().isVisible()
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not popup_open:
            # Enter picks and goes no further: QLineEdit passes it on to its parents, and in the
            # order ticket a parent's Enter sends the order. (With the list of hits open, the
            # completer takes Enter itself.)
            event.accept()


def _is_month(word: str, query: ParsedQuery) -> bool:
    return query.month is not None and month_of(word) == query.month


def _free_number(digits: str, query: ParsedQuery) -> bool:
    """A number the query did not read as the expiry's day or year."""
    year = None if query.year is None else query.year % 100
    return not digits.isdigit() or int(digits) not in (
        query.day,
        query.year,
        year,
        query.day_or_year,
    )


def _strike_starts(instrument: Instrument, digits: str) -> bool:
    return instrument.strike is not None and strike_text(instrument.strike).startswith(digits)


def _nearest_first(instrument: Instrument) -> tuple[date, str, int]:
    return (instrument.expiry or date.max, instrument.underlying, instrument.strike or 0)


def _label(instrument: Instrument) -> str:
    """The popup's line: symbol, the contract in words, the exchange."""
    return (
        f"{instrument.tradingsymbol}  {contract_text(instrument, year=True)}  {instrument.exchange}"
    )


def contract_text(instrument: Instrument, *, year: bool = False) -> str:
    """The contract as a trader reads it: 'NIFTY 24 Nov 26000 CE', 'NIFTY 24 Nov FUT', or the
    company's name for shares and indices."""
    expiry = instrument.expiry
    if expiry is None:
        return instrument.name
    when = f"{expiry:%d %b %Y}" if year else f"{expiry:%d %b}"
    if instrument.strike is not None:
        return (
            f"{instrument.underlying} {when} {strike_text(instrument.strike)} "
            f"{instrument.instrument_type}"
        )
    return f"{instrument.underlying} {when} {instrument.instrument_type}"
