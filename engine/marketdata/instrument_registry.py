"""The instruments a session knows about, indexed for the look-ups the desk makes all day.

Look-ups by token, by ``EXCHANGE:TRADINGSYMBOL`` and by (underlying, expiry) are dictionary
hits, so a full Kite master (about 100,000 rows) costs nothing per tick. Text search ranks exact
symbol matches first, then symbol prefixes, then prefixes of the name, then substrings; inside a
rank, cash and indices come before futures, futures before options, near expiries before far
ones, low strikes before high.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date

from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.domain.values import Paise

ChainRow = tuple[Paise, Instrument | None, Instrument | None]
"""(strike, call, put); a side is None where the exchange lists only the other one."""

_KIND_ORDER = {
    InstrumentType.INDEX: 0,
    InstrumentType.EQ: 0,
    InstrumentType.FUT: 1,
    InstrumentType.CE: 2,
    InstrumentType.PE: 2,
}
_RANK_EXACT, _RANK_SYMBOL_PREFIX, _RANK_NAME_PREFIX, _RANK_SUBSTRING = range(4)
_NO_EXPIRY = date.max.toordinal()

_SortKey = tuple[int, int, int, int, str]


class UnknownInstrument(KeyError):
    """A token (or symbol) that is not in the registry."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        # KeyError's own __str__ shows the repr of its argument; a trader should read plain text.
        return self.what


class InstrumentRegistry:
    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_token: dict[int, Instrument] = {}
        self._by_symbol: dict[tuple[str, str], Instrument] = {}
        self._by_underlying_expiry: dict[tuple[str, date], list[Instrument]] = defaultdict(list)
        self._by_underlying: dict[str, list[Instrument]] = defaultdict(list)
        # For filtered search: a strike or a kind narrows an underlying to a few rows at once
        # (NIFTY's 26000 strike in every expiry, or its futures) instead of its ~20,000 rows.
        self._by_underlying_strike: dict[tuple[str, int], list[Instrument]] = defaultdict(list)
        self._by_underlying_kind: dict[tuple[str, InstrumentType], list[Instrument]] = defaultdict(
            list
        )
        self._expiries: dict[str, set[date]] = defaultdict(set)
        self._sort_keys: dict[int, _SortKey] = {}
        # Built on the first unfiltered text search after a change.
        self._text_index: _TextIndex | None = None
        self.former: Callable[[int], Instrument | None] | None = None
        """Names a contract its market listed before and no longer lists (the simulated
        market's tokens say their contract); None where the market cannot say."""
        self._former: dict[int, Instrument] = {}
        self.add_all(instruments)

    # ----------------------------------------------------------------------------------- building

    def add(self, instr: Instrument) -> None:
        """Add one instrument; a token or exchange symbol already present is refused."""
        existing = self._by_token.get(instr.token)
        if existing is not None:
            raise ValueError(
                f"token {instr.token} is already registered for {existing.key}; "
                f"refusing {instr.key}"
            )
        symbol_key = (str(instr.exchange), instr.tradingsymbol.upper())
        clash = self._by_symbol.get(symbol_key)
        if clash is not None:
            raise ValueError(
                f"{instr.key} is already registered with token {clash.token}; "
                f"refusing token {instr.token}"
            )
        self._by_token[instr.token] = instr
        self._by_symbol[symbol_key] = instr
        self._by_underlying[instr.underlying].append(instr)
        self._by_underlying_kind[(instr.underlying, instr.instrument_type)].append(instr)
        if instr.strike is not None:
            self._by_underlying_strike[(instr.underlying, instr.strike)].append(instr)
        if instr.expiry is not None:
            self._by_underlying_expiry[(instr.underlying, instr.expiry)].append(instr)
            self._expiries[instr.underlying].add(instr.expiry)
        self._sort_keys[instr.token] = (
            _KIND_ORDER[instr.instrument_type],
            instr.expiry.toordinal() if instr.expiry is not None else _NO_EXPIRY,
            instr.strike if instr.strike is not None else 0,
            len(instr.tradingsymbol),
            instr.tradingsymbol,
        )
        self._text_index = None

    def add_all(self, instruments: Iterable[Instrument]) -> None:
        for instr in instruments:
            self.add(instr)

    # ------------------------------------------------------------------------------------ look-ups

    def get(self, token: int) -> Instrument:
        try:
            return self._by_token[token]
        except KeyError:
            raise UnknownInstrument(
                f"instrument token {token} is not in the registry ({len(self)} instruments loaded)"
            ) from None

    def find(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def find_former(self, token: int) -> Instrument | None:
        """A contract the listing no longer has (one that expired), as its market named it;
        None if the market cannot name it or it is listed (``find`` has it). Never tradable."""
        known = self._former.get(token)
        if known is None and self.former is not None and token not in self._by_token:
            known = self.former(token)
            if known is not None:
                self._former[token] = known
        return known

    def by_symbol(self, exchange: Exchange | str, tradingsymbol: str) -> Instrument | None:
        """The instrument Kite would call ``EXCHANGE:TRADINGSYMBOL``; None if there is none."""
        return self._by_symbol.get((str(exchange).upper(), tradingsymbol.upper()))

    def __len__(self) -> int:
        return len(self._by_token)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_token.values())

    def __contains__(self, token: object) -> bool:
        return token in self._by_token

    # ------------------------------------------------------------------------ derivatives structure

    def spot_tokens(self) -> dict[str, InstrumentToken]:
        """Underlying symbol -> the token of its index, or of its shares for a stock."""
        spots: dict[str, InstrumentToken] = {}
        for instrument in self._by_token.values():
            if instrument.instrument_type is InstrumentType.INDEX:
                spots[instrument.underlying] = instrument.token
            elif instrument.instrument_type is InstrumentType.EQ:
                spots.setdefault(instrument.underlying, instrument.token)
        return spots

    def underlyings(self) -> list[str]:
        """Underlyings that have futures or options listed, sorted."""
        return sorted(self._expiries)

    def expiries(self, underlying: str) -> list[date]:
        """Expiry dates of the underlying's futures and options, nearest first."""
        return sorted(self._expiries.get(underlying, ()))

    def chain(self, underlying: str, expiry: date) -> list[ChainRow]:
        """The option chain of one expiry: (strike, call, put) rows sorted by strike."""
        rows: dict[int, list[Instrument | None]] = {}
        for instr in self._by_underlying_expiry.get((underlying, expiry), ()):
            if not instr.is_option or instr.strike is None:
                continue
            row = rows.setdefault(instr.strike, [None, None])
            row[0 if instr.instrument_type is InstrumentType.CE else 1] = instr
        return [(Paise(strike), row[0], row[1]) for strike, row in sorted(rows.items())]

    # -------------------------------------------------------------------------------------- search

    def search(
        self,
        text: str = "",
        *,
        underlying: str | None = None,
        expiry: date | None = None,
        strike: int | None = None,
        instrument_type: InstrumentType | None = None,
        limit: int = 50,
    ) -> list[Instrument]:
        """Instruments whose symbol or name contains ``text`` (case-insensitive), best match first.

        Filters narrow the candidates before any text is compared; ``strike`` is in paise.
        """
        if limit <= 0:
            return []
        needle = text.strip().upper()
        filtered = (
            underlying is not None
            or expiry is not None
            or strike is not None
            or instrument_type is not None
        )
        if not filtered:
            if self._text_index is None:
                self._text_index = _TextIndex(self._by_token, self._sort_keys)
            return self._text_index.search(needle, limit)

        candidates: Iterable[Instrument] = self._by_token.values()
        if underlying is not None:
            candidates = self._narrowest(underlying, expiry, strike, instrument_type)
        ranked: list[tuple[int, _SortKey, Instrument]] = []
        for instr in candidates:
            if (
                (underlying is None or instr.underlying == underlying)
                and (expiry is None or instr.expiry == expiry)
                and (strike is None or instr.strike == strike)
                and (instrument_type is None or instr.instrument_type is instrument_type)
            ):
                rank = _text_rank(instr, needle)
                if rank is not None:
                    ranked.append((rank, self._sort_keys[instr.token], instr))
        best = heapq.nsmallest(limit, ranked, key=lambda entry: (entry[0], entry[1]))
        return [instr for _, _, instr in best]

    def _narrowest(
        self,
        underlying: str,
        expiry: date | None,
        strike: int | None,
        instrument_type: InstrumentType | None,
    ) -> list[Instrument]:
        """The smallest list of the underlying's instruments that holds every match."""
        lists = [self._by_underlying.get(underlying, [])]
        if expiry is not None:
            lists.append(self._by_underlying_expiry.get((underlying, expiry), []))
        if strike is not None:
            lists.append(self._by_underlying_strike.get((underlying, strike), []))
        if instrument_type is not None:
            lists.append(self._by_underlying_kind.get((underlying, instrument_type), []))
        return min(lists, key=len)


class _TextIndex:
    """A snapshot of the registry arranged for unfiltered text search over ~100k instruments.

    Instruments are numbered in display order (kind, expiry, strike, symbol), so "best first"
    inside one rank is "lowest number first". Exact symbols and symbol prefixes are contiguous
    slices of the symbol-sorted list; names and substrings are found by the C string search in
    one joined haystack, not by a Python loop over every instrument.
    """

    _SEPARATOR = "\n"

    def __init__(self, by_token: dict[int, Instrument], sort_keys: dict[int, _SortKey]) -> None:
        self._ordered = sorted(by_token.values(), key=lambda i: sort_keys[i.token])
        symbols = [instr.tradingsymbol.upper() for instr in self._ordered]
        names = [instr.name.upper() for instr in self._ordered]
        by_symbol = sorted(range(len(symbols)), key=symbols.__getitem__)
        self._sorted_symbols = [symbols[number] for number in by_symbol]
        self._numbers_by_symbol = by_symbol
        # One line per instrument: "SYMBOL\tNAME\n"; a match never spans two instruments because
        # neither separator can be typed into a search box (the needle is stripped).
        lines = [f"{symbol}\t{name}" for symbol, name in zip(symbols, names, strict=True)]
        self._haystack = self._SEPARATOR.join(lines)
        self._line_starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
        self._symbols = symbols

    def search(self, needle: str, limit: int) -> list[Instrument]:
        if not needle:
            return self._ordered[:limit]
        lo = bisect.bisect_left(self._sorted_symbols, needle)
        hi = bisect.bisect_left(self._sorted_symbols, needle + "\U0010ffff")
        # The exact symbol, if listed, sorts first among its prefixes (on one or more exchanges).
        exact_end = bisect.bisect_right(self._sorted_symbols, needle, lo, hi)
        exact = sorted(self._numbers_by_symbol[lo:exact_end])
        prefix = sorted(self._numbers_by_symbol[exact_end:hi])
        chosen = exact + prefix[:limit]
        if len(chosen) < limit and "\t" not in needle and "\n" not in needle:
            chosen.extend(self._name_and_substring_matches(needle, limit - len(chosen)))
        return [self._ordered[n] for n in chosen[:limit]]

    def _name_and_substring_matches(self, needle: str, wanted: int) -> list[int]:
        # Numbers rise with display order, so each scan can stop as soon as it has enough.
        name_prefix = self._scan("\t" + needle, wanted, skip=set())
        found = list(name_prefix)
        if len(found) < wanted:
            found.extend(self._scan(needle, wanted - len(found), skip=set(name_prefix)))
        return found

    def _scan(self, pattern: str, wanted: int, skip: set[int]) -> list[int]:
        needle = pattern.lstrip("\t")
        found: list[int] = []
        last = -1
        for match in re.finditer(re.escape(pattern), self._haystack):
            number = bisect.bisect_right(self._line_starts, match.start()) - 1
            if number == last or number in skip or self._symbols[number].startswith(needle):
                continue  # same line again, or already ranked higher
            last = number
            found.append(number)
            if len(found) >= wanted:
                break
        return found


def _text_rank(instr: Instrument, needle: str) -> int | None:
    if not needle:
        return _RANK_EXACT
    symbol = instr.tradingsymbol.upper()
    if symbol == needle:
        return _RANK_EXACT
    if symbol.startswith(needle):
        return _RANK_SYMBOL_PREFIX
    name = instr.name.upper()
    if name.startswith(needle):
        return _RANK_NAME_PREFIX
    if needle in symbol or needle in name:
        return _RANK_SUBSTRING
    return None
