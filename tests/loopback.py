"""A tiny aiohttp service on a free loopback port, for tests that need another service to answer something."""
from __future__ import annotations

from aiohttp import web


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on 127.0.0.1 (a free port): its runner (``await runner.cleanup()`` when done) and base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


class LoopbackApp:
    """``async with``: serves the routes :meth:`routes` adds on 127.0.0.1 (a free port) and sets ``url``."""

    url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self):
        app = web.Application()
        self.routes(app)
        self.runner, self.url = await serve_app(app)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()
