"""Watch launchpad programs for new tokens over Solana's websocket API (logsSubscribe, mentions filter)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from solana.rpc.commitment import Processed
from solana.rpc.websocket_api import SolanaWsClient
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilterMentions
from solders.rpc.responses import LogsNotification

logger = logging.getLogger(__name__)
OnLogs = Callable[[list[str], str], Awaitable[object]]


async def watch_program_logs(url: str, program_ids: Sequence[str], on_logs: OnLogs, *,
                             ready: asyncio.Event | None = None, max_backoff: float = 30.0) -> None:
    """Deliver the logs of every successful transaction mentioning a program; reconnect on failure. Runs until
    cancelled. ``ready`` is set once every subscription is confirmed."""
    backoff = 0.5
    while True:
        try:
            async with SolanaWsClient(url) as client:
                for program in program_ids:
                    await client.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(Pubkey.from_string(program)),
                                                commitment=Processed)
                if ready is not None:
                    ready.set()
                backoff = 0.5
                async for notification in client:
                    if not isinstance(notification, LogsNotification):
                        continue  # only logs are subscribed to
                    value = notification.result.value
                    if value.err is None:
                        await _deliver(on_logs, list(value.logs), str(value.signature))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the socket dropped or the node refused: wait, then subscribe again
            logger.warning("Launch watcher disconnected (%s); reconnecting in %.1f s", type(err).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


async def _deliver(on_logs: OnLogs, logs: list[str], signature: str) -> None:
    try:
        await on_logs(logs, signature)
    except Exception:
        logger.exception("Handling a launch failed")
