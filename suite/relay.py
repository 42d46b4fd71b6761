"""A relay: a task in a service's event loop that works off one of its outboxes (suite.outbox,
suite.workflow_outbox), round after round, sleeping while there is nothing to do unless woken
(`wake()` after a commit that added rows)."""

from __future__ import annotations

import asyncio
import contextlib

from suite import logging as suite_logging

log = suite_logging.get("relay")


class BackgroundRelay:
    """`start()` in the server's event loop, `await stop()` on close; subclasses give `_run`."""

    def __init__(self, name: str):
        self._name = name
        self._task: asyncio.Task | None = None
        self._woken = asyncio.Event()

    def start(self) -> None:
        """Start relaying in the running event loop (the server's); outside one, nothing starts."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("relay not started: no event loop runs", relay=self._name)
            return
        if self._task is None:
            self._task = loop.create_task(self._run(), name=self._name)

    def wake(self) -> None:
        """Something was committed to the outbox: relay now rather than after the idle sleep."""
        self._woken.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)
        self._woken.clear()
