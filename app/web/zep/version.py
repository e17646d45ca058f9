"""The `X-Zep-Version` header on every response of Zep's API (under /zep and /api/v1), the
middleware's own (413, 500, a refused Host) included, and on memql's `/healthz`, which zep-js
checks at `${baseURL}/healthz` (and warns without the header)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.zep import VERSION, under_mount

HEADER = (b"x-zep-version", VERSION.encode("ascii"))


class ZepVersionHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            under_mount(scope["path"]) or scope["path"] == "/healthz"
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(HEADER)
            await send(message)

        await self.app(scope, receive, send_with_version)
