"""A tiny aiohttp service on a free loopback port, for tests that need another service to answer something."""
from __future__ import annotations

from aiohttp import web


class LoopbackApp:
    """``async with``: serves the routes :meth:`routes` adds on 127.0.0.1 (a free port) and sets ``url``."""

    url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self):
        app = web.Application()
        self.routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        try:
            await site.start()
        except BaseException:
            await self.runner.cleanup()
            raise
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()
