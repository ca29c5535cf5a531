"""The Execution panel over algos and a bracket run on the simulated market: one row per parent
(arrival, average fill, interval VWAP, slippage in bp against both, fill rate, time to fill,
children), the sums per owner and per day, a slippage bar per parent, and the CSV export."""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal
from pathlib import Path

from tests.support import atm_call
from ui.panels.execution import ExecutionPanel


def _future(engine):  # type: ignore[no-untyped-def]
    return min(
        (
            i
            for i in engine.registry
            if i.underlying == "NIFTY" and i.instrument_type.value == "FUT"
        ),
        key=lambda i: i.expiry,
    )


def test_execution_panel_measures_algos_and_bracket_entries_per_parent_owner_and_day(
    qtbot, context, engine, market, tmp_path: Path
) -> None:
    market(1)
    option, fut = atm_call(engine), _future(engine)
    starts = [
        {"kind": "twap", "token": int(option.token), "side": "BUY", "owner": "ticket",
         "quantity": 20 * option.lot_size, "duration_seconds": 60, "slices": 6,
         "order_type": "MARKET", "product": "NRML"},
        {"kind": "pov", "token": int(fut.token), "side": "SELL", "owner": "momentum",
         "quantity": 4 * fut.lot_size, "duration_seconds": 60, "participation_pct": 20,
         "order_type": "MARKET", "product": "NRML"},
        {"kind": "iceberg", "token": int(option.token), "side": "SELL", "owner": "momentum",
         "quantity": 6 * option.lot_size, "duration_seconds": 60, "visible_quantity":
         2 * option.lot_size, "order_type": "MARKET", "product": "NRML"},
    ]  # fmt: skip
    for spec in starts:
        started = engine.api.start_algo(spec)
        assert started.ok, started.reason
    ask = engine.api.quote(option.token).ask
    bracket = engine.api.place_bracket(
        int(option.token), "BUY", option.lot_size, stop=str(ask - 20), target=str(ask + 20)
    )
    assert bracket.ok, bracket.reason
    market(90)

    rows = engine.api.execution_quality()
    by_id = {r.parent_id: r for r in rows}
    assert len(rows) == 4 and bracket.parent_id in by_id
    entry = by_id[bracket.parent_id]
    assert (entry.kind, entry.owner, entry.target, entry.filled) == (
        "bracket", "advanced orders", option.lot_size, option.lot_size,
    )  # fmt: skip
    assert entry.arrival is not None and entry.average_fill is not None
    assert entry.slippage_arrival_bp == (
        (entry.average_fill - entry.arrival) / entry.arrival * 10_000
    ).quantize(Decimal("0.01"))
    twap = next(r for r in rows if r.kind == "twap")
    assert twap.filled == twap.target and twap.fill_rate_pct == 100
    assert twap.children >= 6 and twap.interval_vwap is not None
    assert twap.slippage_vwap_bp is not None and twap.time_to_fill_s is not None

    panel = ExecutionPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1280, 560)
    panel.show()
    panel.refresh()
    assert panel.model.rowCount() == 4
    shown = {panel.model.row_at(n).q.parent_id for n in range(4)}
    assert shown == set(by_id)
    owners = {panel.groups.row_at(n).s.group: panel.groups.row_at(n).s for n in range(3)}
    assert set(owners) == {"advanced orders", "momentum", "ticket"}
    assert owners["momentum"].parents == 2 and owners["ticket"].parents == 1
    panel.group_by.setCurrentIndex(1)  # per day
    assert panel.groups.rowCount() == 1 and panel.groups.row_at(0).s.parents == 4
    measured = [r for r in rows if r.slippage_arrival_bp is not None]
    assert panel.plot.values == [float(r.slippage_arrival_bp) for r in sorted(
        measured, key=lambda r: (r.day, r.ticks_from_ns or 0, r.parent_id))]  # fmt: skip

    refused = panel.export(str(tmp_path / "missing" / "execution.csv"))
    assert refused is not None and "could not be written" in refused
    text = panel.export(str(tmp_path / "execution.csv"))
    assert text == f"execution quality written to {tmp_path / 'execution.csv'}"
    exported = list(csv.DictReader(io.StringIO((tmp_path / "execution.csv").read_text())))
    assert {r["parent_id"] for r in exported} == set(by_id)
    assert {r["kind"] for r in exported} == {"twap", "pov", "iceberg", "bracket"}

    shots = os.environ.get("DALALDESK_SHOTS")
    if shots:  # a picture for the engineer to look at (not part of the assertion)
        panel.group_by.setCurrentIndex(0)
        panel.grab().save(str(Path(shots) / "execution_panel.png"))
