"""The upload size limit, enforced while the body streams in (ASGI middleware).

A request whose ``Content-Length`` is over the limit gets 413 before any of its body is
read. A request without one (chunked) is counted as it arrives: once past the limit the
application's own answer is dropped and 413 is sent instead, so at most one chunk beyond
the limit is ever read and nothing is written for it.
"""

from __future__ import annotations

import json

__all__ = ["UploadLimit"]


class _TooLarge(Exception):
    pass


class UploadLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (pure ASGI middleware)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    def _message(self) -> bytes:
        mb = self.max_bytes / (1024 * 1024)
        text = f"the upload is over the limit of {mb:g} MB; send a shorter excerpt"
        return json.dumps({"detail": text}).encode()

    async def _refuse(self, send) -> None:
        body = self._message()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    return await self._refuse(send)
        seen = 0
        state = {"over": False, "sent": False}

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    state["over"] = True
                    raise _TooLarge
            return message

        async def guarded(message):
            if state["over"]:
                return  # the application's answer to a cut body is replaced by 413
            if message["type"] == "http.response.start":
                state["sent"] = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _TooLarge:
            pass
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["sent"]:
            await self._refuse(send)
