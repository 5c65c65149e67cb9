"""A fake upstream service for the gateway's queueing tests: ``/media/{name}`` calls that can
be held at a gate, counted and slowed (run it with the ``servers`` fixture)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI


class FakeUpstream:
    """Each ``/media/{name}`` call whose name starts with ``held`` waits for ``gate`` (all of
    them when ``held`` is empty), then ``delay``; ``calls``, ``running`` and ``most`` (the
    most running at once) say what the gateway let through."""

    def __init__(self, delay: float = 0.0, *, held: str = "") -> None:
        self.delay = delay
        self.held = held
        self.gate = asyncio.Event()
        self.gate.set()
        self.calls = 0
        self.running = 0
        self.most = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/media/{name}")
        async def media(name: str) -> dict[str, str]:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
            try:
                if name.startswith(self.held):
                    await asyncio.wait_for(self.gate.wait(), 30)
                await asyncio.sleep(self.delay)
            finally:
                self.running -= 1
            return {"name": name}

        return app
