"""A portfolio's legs as one line of text, in the form Stoxxo's ``PortLegs`` takes
(``multileg_and_panels.md`` §1.2) — to import, export and paste portfolios, and for the local API::

    Strike:ATM+2|Txn:SELL|Ins:CE|Expiry:CW|Lots:1||Strike:ATM-2|Txn:SELL|Ins:PE|Expiry:CW|Lots:1

Fields are ``Key:Value`` joined by ``|``; legs are joined by ``||``.

=========  ==============================================  =======================================
key        value                                           leg setting
=========  ==============================================  =======================================
Strike     ``ATM``, ``ATM+2``, ``ATM-1``                   ATM ± n listed strikes
           ``24800``, ``24812.50``                         a fixed strike
           ``Premium~100``, ``Premium>=80``,               premium nearest, at least, at most,
           ``Premium<=120``, ``Premium=80..120``           within a range
           ``Delta~0.3``                                   delta nearest (its size)
           ``Width*1.5``, ``Width*-0.5``                   ATM ± k × the ATM straddle's premium
Scan       ``OTM``, ``ITM``, ``BOTH``                      premium strike: the side scanned
MaxDepth   ``10``                                          premium strike: strikes scanned
Txn        ``BUY``, ``SELL``                               side
Ins        ``CE``, ``PE``, ``FUT``                         instrument
Expiry     ``CW`` ``W1`` ``W2`` ``CM`` ``NM``, ``11-Jan-2024``  expiry code, or a date
Lots       ``1`` … ``500``                                 lots
Hedge      ``YES``, ``NO``                                 hedge
Idle       ``YES``, ``NO``                                 idle
Target,    ``Premium:10``, ``Premium:10%`` (or Stoxxo's    points, percent of the entry, an
SL         ``10P``), ``AbsolutePremium:150``,              absolute premium, underlying points
           ``Underlying:50``                               (Target → target, SL → stop)
Trail      ``5:2``                                         for every 5 points, move the stop 2
OnTarget,  ``ReExecute,Count=2``, ``ReEntryAtCost``,       the leg's action on its target, on
OnSL       ``ExecuteLeg,Leg=3,KeepRunning`` …              its stop (``leg_reaction_text``)
=========  ==============================================  =======================================

Keys and words are read in any case and order, with spaces around fields; a new leg needs Strike,
Txn, Ins, Expiry and Lots (a leg written over a template's needs only Strike, as in Stoxxo). The
text is written in the casing and order above, leaving out Scan BOTH, Hedge NO and Idle NO: each
leg has exactly one such canonical text, and reading it gives the same leg back. Numbers keep
their digits (``24812.50`` stays so; a Decimal held as ``1E+3`` is written ``1000``), a delta is
the shortest decimal that is the same float, a date keeps its day.

Stoxxo's ``WT`` (wait and trade) and its Strike, Delta and Theta targets are not leg settings
here yet, and are refused by name rather than dropped. A refusal is a ``LegTextError`` naming the
leg, the column and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from engine.strategies.multileg.expiries import ExpiryCode
from engine.strategies.multileg.leg_fields import (
    FIELD_OF,
    KEYS,
    LEVEL_WORDS,
    MONTHS,
    NOT_YET,
    PREMIUM_OPS,
    READERS,
    STRIKE_PARTS,
    ValueProblem,
    listing,
    quoted,
    same_word,
)
from engine.strategies.multileg.leg_reaction_text import reaction_text
from engine.strategies.multileg.spec import (
    AtmStrike,
    DeltaStrike,
    FixedStrike,
    Leg,
    LegLevel,
    PremiumStrike,
    StraddleWidthStrike,
    StrikeChoice,
)
from engine.strategies.multileg.strikes import Moneyness, PremiumRule

LEG_SEPARATOR = "||"
FIELD_SEPARATOR = "|"
NEW_LEG_NEEDS = ("Strike", "Txn", "Ins", "Expiry", "Lots")
OVERRIDE_NEEDS = ("Strike",)


class LegTextError(ValueError):
    """Leg text that cannot be read: ``reason`` in words, ``position`` the 0-based index in the
    whole text where the problem starts, ``leg`` the leg's number counted from 1 (None when the
    text has no leg at all). The message counts columns from 1, as an editor does."""

    def __init__(self, reason: str, position: int, leg: int | None = None) -> None:
        where = f"at column {position + 1}"
        super().__init__(f"{where}: {reason}" if leg is None else f"leg {leg}, {where}: {reason}")
        self.reason = reason
        self.position = position
        self.leg = leg


# -- writing ---------------------------------------------------------------------------------------


def legs_text(legs: Iterable[Leg]) -> str:
    """The legs' canonical text, one line."""
    return LEG_SEPARATOR.join(leg_text(leg) for leg in legs)


def leg_text(leg: Leg) -> str:
    fields = [("Strike", _strike_text(leg.strike))]
    if isinstance(leg.strike, PremiumStrike):
        if leg.strike.side is not Moneyness.BOTH:
            fields.append(("Scan", leg.strike.side.value.upper()))
        if leg.strike.depth is not None:
            fields.append(("MaxDepth", str(leg.strike.depth)))
    fields += [
        ("Txn", leg.side.value),
        ("Ins", leg.instrument.value),
        ("Expiry", _expiry_text(leg.expiry)),
        ("Lots", str(leg.lots)),
    ]
    if leg.hedge:
        fields.append(("Hedge", "YES"))
    if leg.idle:
        fields.append(("Idle", "YES"))
    if leg.target is not None:
        fields.append(("Target", _level_text(leg.target)))
    if leg.stop is not None:
        fields.append(("SL", _level_text(leg.stop)))
    if leg.trail is not None:
        fields.append(("Trail", f"{_number(leg.trail.every)}:{_number(leg.trail.by)}"))
    if leg.on_target is not None:
        fields.append(("OnTarget", reaction_text(leg.on_target)))
    if leg.on_stop is not None:
        fields.append(("OnSL", reaction_text(leg.on_stop)))
    return FIELD_SEPARATOR.join(f"{key}:{value}" for key, value in fields)


def _number(value: Decimal) -> str:
    # Positional, never "1E+3": every digit the Decimal holds after the point is kept.
    return format(value, "f")


def _strike_text(strike: StrikeChoice) -> str:
    if isinstance(strike, AtmStrike):
        return "ATM" if strike.offset == 0 else f"ATM{strike.offset:+d}"
    if isinstance(strike, FixedStrike):
        return _number(strike.strike)
    if isinstance(strike, PremiumStrike):
        if strike.rule is PremiumRule.BETWEEN:
            assert strike.upper is not None  # the spec refuses a range without its upper bound
            return f"Premium={_number(strike.value)}..{_number(strike.upper)}"
        op = next(op for op, rule in PREMIUM_OPS.items() if rule is strike.rule)
        return f"Premium{op}{_number(strike.value)}"
    if isinstance(strike, DeltaStrike):
        # repr is the shortest decimal that reads back as the same float; written positionally.
        return f"Delta~{_number(Decimal(repr(strike.delta)))}"
    assert isinstance(strike, StraddleWidthStrike)  # the last kind StrikeChoice holds
    return f"Width*{_number(strike.multiple)}"


def _expiry_text(expiry: ExpiryCode | date) -> str:
    if isinstance(expiry, ExpiryCode):
        return expiry.value
    # Month names from our own table: strftime's %b follows the machine's locale.
    return f"{expiry.day:02d}-{MONTHS[expiry.month - 1]}-{expiry.year:04d}"


def _level_text(level: LegLevel) -> str:
    word, suffix = LEVEL_WORDS[level.measure]
    return f"{word}:{_number(level.value)}{suffix}"


# -- reading ---------------------------------------------------------------------------------------


def parse_legs(text: str, over: Sequence[Leg] = ()) -> list[Leg]:
    """The legs ``text`` writes; ``LegTextError`` at the first problem. The n-th leg is written
    over ``over[n]`` when there is one (only Strike is then needed; the rest it does not say is
    kept), as Stoxxo overrides a template's first legs."""
    if not text.strip():
        raise LegTextError("there are no legs: the text is empty", 0)
    legs = []
    for number, (start, end) in enumerate(_spans(text, LEG_SEPARATOR, 0, len(text)), 1):
        base = over[number - 1] if number <= len(over) else None
        legs.append(_parse_leg(text, start, end, number, base))
    return legs


def _spans(text: str, separator: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    while (found := text.find(separator, start, end)) >= 0:
        spans.append((start, found))
        start = found + len(separator)
    spans.append((start, end))
    return spans


def _first_letter(text: str, start: int, end: int) -> int:
    """Where the first character that is not a space is (``end`` if none)."""
    return next((at for at in range(start, end) if not text[at].isspace()), end)


def _parse_leg(text: str, start: int, end: int, number: int, base: Leg | None) -> Leg:
    if not text[start:end].strip():
        raise LegTextError("an empty leg: a stray '||'", max(start - len(LEG_SEPARATOR), 0), number)
    said: dict[str, Any] = {}
    # The field paths the spec's problems name → the key and the position they are about.
    where: dict[str, tuple[str, int]] = {}
    for field_start, field_end in _spans(text, FIELD_SEPARATOR, start, end):
        key, value, at = _field(text, field_start, field_end, number, start)
        if key in said:
            raise LegTextError(
                f"{key} is given twice", _first_letter(text, field_start, at), number
            )
        try:
            said[key], offsets = READERS[key](value)
        except ValueProblem as bad:
            raise LegTextError(bad.reason, at + bad.offset, number) from None
        for path, offset in offsets.items():
            where[path] = (key, at + offset)
    leg_at = _first_letter(text, start, end)
    needs = NEW_LEG_NEEDS if base is None else OVERRIDE_NEEDS
    missing = [key for key in needs if key not in said]
    if missing:
        needing = "a new leg" if base is None else "a leg over a template's"
        reason = f"missing {listing(missing)}: {needing} needs {listing(needs)}"
        raise LegTextError(reason, leg_at, number)
    values = _leg_values(said)
    try:
        return Leg.model_validate({**(base.model_dump() if base else {}), **values})
    except ValidationError as error:
        raise _located(error, where, leg_at, number) from None


def _field(text: str, start: int, end: int, number: int, leg_start: int) -> tuple[str, str, int]:
    """A field's canonical key, its value and where the value starts."""
    if not text[start:end].strip():
        # The stray separator itself, unless the field is the leg's first (then it is the leg's).
        at = start - len(FIELD_SEPARATOR) if start > leg_start else start
        raise LegTextError("an empty field: a stray '|'", at, number)
    key_at = _first_letter(text, start, end)
    colon = text.find(":", start, end)
    if colon < 0:
        raise LegTextError(f"a field is Key:Value, got {quoted(text[key_at:end])}", key_at, number)
    written = text[start:colon].strip()
    key = next((k for k in KEYS if same_word(written, k)), None)
    if key is None:
        unknown = f"unknown key {quoted(written)}; the keys are {', '.join(KEYS)}"
        raise LegTextError(NOT_YET.get(written.lower(), unknown), key_at, number)
    value_at = _first_letter(text, colon + 1, end)
    value = text[value_at:end].rstrip()
    if not value:
        raise LegTextError(f"{key} has no value", value_at, number)
    return key, value, value_at


def _leg_values(said: dict[str, Any]) -> dict[str, Any]:
    """What the fields said, as the Leg's fields. Scan and MaxDepth join the Strike whatever its
    kind: the spec refuses them on any but a premium strike, in the same pass as every other
    problem, so that the first of them is the one reported."""
    values = {field: said[key] for key, field in FIELD_OF.items() if key in said}
    strike = dict(said["Strike"])
    for key, part in STRIKE_PARTS.items():
        if key in said:
            strike[part] = said[key]
    return {**values, "strike": strike}


def _located(
    error: ValidationError, where: dict[str, tuple[str, int]], leg_at: int, number: int
) -> LegTextError:
    """The spec's first problem (by position), at the field it names, or at the leg's start."""
    problems = []
    for problem in error.errors(include_url=False):
        parts = [str(part) for part in problem["loc"]]
        if parts[:1] == ["strike"] and len(parts) > 1:
            del parts[1]  # the strike's kind: our paths are the same for every kind
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden" and parts[:1] == ["strike"]:
            message = "only a premium strike (Strike:Premium…) has one"
        found = next(
            (where[p] for n in range(len(parts), 0, -1) if (p := ".".join(parts[:n])) in where),
            None,
        )
        if found is None:
            problems.append((leg_at, message))
        else:
            key, at = found
            problems.append((at, f"{key}: {message}"))
    at, reason = min(problems, key=lambda problem: problem[0])
    return LegTextError(reason, at, number)
