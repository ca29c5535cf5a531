"""What the fake brokers share: ``async with`` starts a fake and closes it afterwards."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class FakeServer:
    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
