"""Solana's websocket API, the part sniping needs: logsSubscribe / logsUnsubscribe with a ``mentions`` filter,
and logsNotification pushed when something is published (a token launch)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading

from websockets.asyncio.server import serve


class LogsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._subscriptions: dict[int, tuple[object, set[str] | None]] = {}
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="LogsServer", daemon=True)
        self._stop: asyncio.Event | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self.port}"

    def start(self) -> LogsServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, *, slot: int, signature: str, logs: list[str], mentions: list[str], err=None) -> None:
        """Notify every subscription whose filter matches (thread-safe)."""
        asyncio.run_coroutine_threadsafe(self._publish(slot, signature, logs, set(mentions), err), self._loop)

    async def _publish(self, slot, signature, logs, mentions, err) -> None:
        for subscription, (ws, wanted) in list(self._subscriptions.items()):
            if wanted is not None and not wanted & mentions:
                continue
            message = {"jsonrpc": "2.0", "method": "logsNotification", "params": {
                "result": {"context": {"slot": slot}, "value": {"signature": signature, "err": err, "logs": logs}},
                "subscription": subscription}}
            try:
                await ws.send(json.dumps(message))
            except Exception:  # a subscriber that went away: forget it
                self._subscriptions.pop(subscription, None)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handle, self._host, self._port) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handle(self, ws) -> None:
        mine: list[int] = []
        try:
            async for raw in ws:
                request = json.loads(raw)
                await ws.send(json.dumps(self._answer(request, ws, mine)))
        except Exception:  # closed by the client: nothing to answer
            pass
        finally:
            for subscription in mine:
                self._subscriptions.pop(subscription, None)

    def _answer(self, request: dict, ws, mine: list[int]) -> dict:
        method, params, request_id = request.get("method"), request.get("params") or [], request.get("id")
        if method == "logsSubscribe":
            filter_ = params[0] if params else "all"
            wanted = set(filter_["mentions"]) if isinstance(filter_, dict) and "mentions" in filter_ else None
            subscription = next(self._ids)
            self._subscriptions[subscription] = (ws, wanted)
            mine.append(subscription)
            return {"jsonrpc": "2.0", "result": subscription, "id": request_id}
        if method == "logsUnsubscribe":
            removed = self._subscriptions.pop(int(params[0]), None) is not None
            return {"jsonrpc": "2.0", "result": removed, "id": request_id}
        return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": request_id}
