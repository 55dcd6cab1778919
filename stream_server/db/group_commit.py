"""Group commit: short write units that arrive together share one transaction.

Why: SQLite has one writer. Concurrent write transactions wait in SQLite's busy handler,
which sleeps in growing steps (up to 100 ms) and serves nobody in order: when 150 viewers
joined a lecture at once, the last join's attendance row took 3.4 s, and a larger burst
would run into ``busy_timeout`` and fail. Queued here instead, units are written in arrival
order by one task, and all that arrived while the previous commit was being made go into the
next one: one commit (one fsync) per burst rather than per participant. A caller still
returns only after its unit is committed, so nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")
WriteUnit = Callable[[AsyncSession], Awaitable[T]]
#: Writes many items of one kind in a few statements, returning one result per item.
WriteMany = Callable[[AsyncSession, list[A]], Awaitable[list[T]]]
Opener = Callable[[], Any]  # () -> async context manager yielding an AsyncSession

#: Items per transaction at most, so one transaction stays short.
MAX_BATCH = 200


async def _each(db: AsyncSession, units: list[WriteUnit[Any]]) -> list[Any]:
    return [await unit(db) for unit in units]


class GroupCommit:
    """Runs writes in arrival order, as many per transaction as are waiting.

    A write touches only the database session it is given and may run twice: if a shared
    transaction fails, each of its items is retried alone, so one bad item fails only itself.
    Neighbouring items of the same :meth:`run_many` writer are handed to it together, so it
    can insert them with one multi-row statement.
    """

    def __init__(self, open_session: Opener, max_batch: int = MAX_BATCH) -> None:
        self._open_session = open_session
        self._max_batch = max_batch
        self._pending: list[tuple[WriteMany[Any, Any], Any, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0
        #: Called with each committed transaction's duration in seconds (the app's metrics).
        self.observe: Callable[[float], None] | None = None

    async def run(self, unit: WriteUnit[T]) -> T:
        """Write ``unit`` and return its result once it is committed."""
        return await self.run_many(_each, unit)

    async def run_many(self, write_many: WriteMany[A, T], item: A) -> T:
        """Queue ``item`` for ``write_many``; return its result once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((write_many, item, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            # A caller that gave up before its turn is not written at all.
            batch = [entry for entry in batch if not entry[2].done()]
            if not batch:
                continue
            try:
                results = await self._transaction(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][2], exception=exc)
                    continue
                logger.warning(
                    "a shared transaction of %d writes failed (%r); retrying them one by one",
                    len(batch),
                    exc,
                )
                for entry in batch:
                    try:
                        (result,) = await self._transaction([entry])
                    except Exception as one:
                        _settle(entry[2], exception=one)
                    else:
                        _settle(entry[2], result=result)
                continue
            except BaseException as exc:  # cancelled while closing: nobody waits forever
                for _, _, future in batch + self._pending:
                    _settle(future, exception=exc)
                self._pending.clear()
                raise
            for (_, _, future), result in zip(batch, results, strict=True):
                _settle(future, result=result)

    async def _transaction(
        self, batch: list[tuple[WriteMany[Any, Any], Any, asyncio.Future[Any]]]
    ) -> list[Any]:
        results: list[Any] = []
        started = time.perf_counter()
        async with self._open_session() as db:
            start = 0
            while start < len(batch):
                writer = batch[start][0]
                end = start + 1
                while end < len(batch) and batch[end][0] == writer:
                    end += 1
                items = [item for _, item, _ in batch[start:end]]
                written = await writer(db, items)
                if len(written) != len(items):
                    raise RuntimeError(f"{writer!r} returned {len(written)} of {len(items)}")
                results += written
                start = end
        self.transactions += 1
        if self.observe is not None:
            self.observe(time.perf_counter() - started)
        return results

    async def close(self) -> None:
        """Let what is queued be written (called when the app stops)."""
        if self._writer is not None and not self._writer.done():
            await self._writer


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exception: BaseException | None = None
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
