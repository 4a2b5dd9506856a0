"""The in-process ASGI client: the collector app called as a server calls it, no sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from .outcome import SimulationError

Message = dict[str, Any]


class AsgiClient:
    """Calls an ASGI app in this process: its lifespan, and HTTP requests (many at once)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._lifespan = asyncio.create_task(
            self.app(scope, self._to_app.get, self._from_app.put), name="lifespan"
        )
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._lifespan_answer()
        if answer["type"] != "lifespan.startup.complete":
            task, self._lifespan = self._lifespan, None
            with contextlib.suppress(Exception):
                await task  # it failed, and said why in the answer
            raise SimulationError(f"the collector did not start: {answer.get('message', '')}")

    async def shutdown(self) -> None:
        if self._lifespan is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        answer = await self._lifespan_answer()
        await self._lifespan
        self._lifespan = None
        if answer["type"] != "lifespan.shutdown.complete":
            raise SimulationError(f"the collector did not stop cleanly: {answer.get('message')}")

    async def _lifespan_answer(self) -> Message:
        assert self._lifespan is not None
        answer = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({answer, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        error = self._lifespan.exception()
        self._lifespan = None
        raise SimulationError(f"the collector's lifespan ended early: {error!r}") from error

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        client: tuple[str, int] = ("127.0.0.1", 50000),
    ) -> tuple[int, bytes]:
        """Send one request; answer its status and body."""
        raw_headers = [(b"host", b"collector.simulated")]
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": raw_headers,
            "client": client,
            "server": ("collector.simulated", 80),
            "state": {},
        }
        received = False
        finished = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # Starlette answers 500 and then re-raises for the server to log.
            raise SimulationError(
                f"{method} {path} failed in the collector (HTTP {status or 'none'}): {exc!r}"
            ) from exc
        finally:
            finished.set()
        return status, b"".join(chunks)
