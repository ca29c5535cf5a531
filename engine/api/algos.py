"""Execution algos through the facade: start a parent (TWAP, VWAP, POV, iceberg, slicer), pause,
resume, cancel or change its remaining quantity, list the parents with their progress, and read
or export their execution quality. Every command answers None (or the parent's id), or why not
in words; nothing raises past here."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.api.parts import Service
from engine.domain.bars import Timeframe
from engine.domain.orders import Product, Side
from engine.store.files import write_whole
from engine.strategies.algos.desk import AlgoDesk, AlgoStart
from engine.strategies.algos.profile import profile_from_bars
from engine.strategies.algos.quality import (
    ExecutionQuality,
    QualitySummary,
    quality_csv,
    summarise,
)
from engine.strategies.algos.spec import AlgoKind, AlgoSpec
from engine.strategies.algos.view import AlgoView

_NO_ALGOS = "this engine was built without execution algos"


class AlgoService(Service):
    def _desk(self) -> AlgoDesk | None:
        return self._parts.algos

    def start_algo(self, spec: AlgoSpec | dict[str, Any]) -> AlgoStart:
        """Start a parent from its settings (``AlgoSpec`` fields; prices in rupees)."""
        desk = self._desk()
        if desk is None:
            return AlgoStart(False, reason=_NO_ALGOS)
        return desk.start(spec)

    def slice_exit(self, token: int, product: Product | str = Product.NRML) -> AlgoStart:
        """Close the desk's whole position in ``token`` with the freeze-quantity slicer (an
        exit above the freeze quantity goes out in children, paced under the rate limit)."""
        try:
            product = Product(product)
        except ValueError:
            return AlgoStart(False, reason=f"{product!r} is not a product")
        net = sum(
            p.net_quantity
            for p in self._positions.all()
            if int(p.token) == int(token) and p.product is product
        )
        if net == 0:
            return AlgoStart(False, reason=f"no open {product.value} position in {token} to exit")
        return self.start_algo(
            {
                "kind": AlgoKind.SLICER.value,
                "token": int(token),
                "side": (Side.SELL if net > 0 else Side.BUY).value,
                "quantity": abs(net),
                "product": product.value,
                "order_type": "MARKET",
                "owner": "exit",
            }
        )

    def pause_algo(self, parent_id: str) -> str | None:
        """Stop sending children and cancel the working ones; the schedule waits."""
        desk = self._desk()
        return _NO_ALGOS if desk is None else desk.pause(parent_id)

    def resume_algo(self, parent_id: str) -> str | None:
        desk = self._desk()
        return _NO_ALGOS if desk is None else desk.resume(parent_id)

    def cancel_algo(self, parent_id: str) -> str | None:
        """End the parent and cancel its working children (its fills stay)."""
        desk = self._desk()
        return _NO_ALGOS if desk is None else desk.cancel(parent_id)

    def modify_algo(self, parent_id: str, remaining: int) -> str | None:
        """Make the parent's unfilled rest ``remaining`` units."""
        desk = self._desk()
        return _NO_ALGOS if desk is None else desk.modify(parent_id, remaining)

    def algos(self) -> list[AlgoView]:
        """Every parent of the book (running first in the panel's order is the UI's choice)."""
        desk = self._desk()
        return [] if desk is None else desk.views()

    def algo_quality(self) -> list[ExecutionQuality]:
        desk = self._desk()
        return [] if desk is None else desk.quality()

    def algo_quality_summary(self, by: str = "owner") -> list[QualitySummary]:
        """The parents' figures summed per ``owner``, ``day`` or ``kind``."""
        return summarise(self.algo_quality(), by)

    def export_algo_quality(self, path: Path | str) -> str | None:
        """Write every parent's execution quality to ``path`` as CSV; None, or why not."""
        try:
            write_whole(Path(path), quality_csv(self.algo_quality()), make_folder=False)
        except OSError as problem:
            return f"the execution quality could not be written to {path}: {problem}"
        return None

    def execution_quality(self) -> list[ExecutionQuality]:
        """Every parent order's execution quality: the algos' and the brackets' entries."""
        advanced = self._parts.advanced
        brackets = [] if advanced is None else advanced.quality()
        return self.algo_quality() + brackets

    def execution_summary(self, by: str = "owner") -> list[QualitySummary]:
        """Every parent's figures summed per ``owner``, ``day`` or ``kind``."""
        return summarise(self.execution_quality(), by)

    def export_execution_quality(self, path: Path | str) -> str | None:
        """Write every parent's execution quality (algos and brackets) to ``path`` as CSV;
        None, or why not."""
        try:
            write_whole(Path(path), quality_csv(self.execution_quality()), make_folder=False)
        except OSError as problem:
            return f"the execution quality could not be written to {path}: {problem}"
        return None

    async def history_volume_profile(self, token: int, days: int = 10) -> list[float] | None:
        """The mean volume of each session minute (09:15 onwards) over the instrument's last
        ``days`` calendar days of one-minute history (the broker's, or the paper market's), for a
        VWAP's ``volume_profile``; None when there is no history to read."""
        source = self._parts.history
        if source is None or not 1 <= days <= 60:
            return None
        end = self._parts.now().replace(hour=0, minute=0, second=0, microsecond=0)
        bars = await source.candles(int(token), Timeframe.M1, end - timedelta(days=days), end)
        return profile_from_bars([(bar.start_ns, bar.volume) for bar in bars])
