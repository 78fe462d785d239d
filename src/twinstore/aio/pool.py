"""A lean thread pool for blocking calls made from the event loop.

`loop.run_in_executor` costs a `concurrent.futures.Future`, a chained asyncio future and several locks per call;
on the small-object hot path that is a measurable share of a request. Here a call is one queue put, and the
result comes back with one `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")
_STOP = None


def resolve_future(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    """Completes `fut` on its loop's thread (schedule with `call_soon_threadsafe`)."""
    if fut.cancelled():
        return
    if exc is None:
        fut.set_result(result)
    else:
        fut.set_exception(exc)


class ThreadPool:
    def __init__(self, threads: int, name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            fn, args, fut, loop = item
            try:
                result, exc = fn(*args), None
            except BaseException as e:  # noqa: BLE001 - delivered to the waiting caller
                result, exc = None, e
            if loop is not None:
                loop.call_soon_threadsafe(resolve_future, fut, result, exc)
            elif exc is None:  # run_sync: a concurrent.futures.Future, completed from this thread
                fut.set_result(result)
            else:
                fut.set_exception(exc)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Runs `fn(*args)` on a pool thread; await the returned future."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, fut, loop))
        return fut

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For code outside the event loop (startup, maintenance)."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, args, fut, None))
        return fut.result()

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join(timeout=10)

