"""The chat page's websocket: what the person types and presses goes to the stand-in; what happens in the chat (the
bot's messages, edits, deletions, the command menu) comes back live. One consumer per open page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core import signing

from kernel.config import TradingConfig, get_config
from sandbox import telegram_html
from sandbox.standin import LAMPORTS_PER_SOL, ChatRoomClient, StandInError, airdrop, balance
from wallets.selectors import public_key_of

logger = logging.getLogger("sandbox")
CHAT_SALT = "sandbox-chat"
WELCOME_AIRDROP_SOL = 10
AIRDROP_SOL = 5
POLL_SECONDS = 20
TOKENS_EVERY_SECONDS = 3


class ChatConsumer(AsyncJsonWebsocketConsumer):
    def __init__(self, *args, config: TradingConfig | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.config = config or get_config()  # where localnet is: ``as_asgi(config=…)``, or the process's config

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.chat_id = int(signing.loads(query.get("chat", [""])[0], salt=CHAT_SALT))
            self.after = max(int(query.get("after", ["0"])[0] or 0), 0)
            self.room = ChatRoomClient.from_config(self.config, self.chat_id)
        except (signing.BadSignature, ValueError, StandInError):
            await self.close(code=4403)
            return
        self.funded = False
        await self.accept()
        self.tasks = [asyncio.create_task(self._guarded(self._follow_chat())),
                      asyncio.create_task(self._guarded(self._follow_tokens()))]

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if hasattr(self, "room"):
            await self.room.close()

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "say":
                await self.room.say(str(content.get("text", "")))
            elif kind == "press":
                await self.room.press(int(content.get("message_id", 0)), str(content.get("data", "")))
            elif kind == "airdrop":
                await self._airdrop(AIRDROP_SOL)
            elif kind == "move":
                symbol, move = str(content.get("symbol", "")), str(content.get("kind", ""))
                await self.room.move(symbol, move)
                happened = "📈 Someone pumped" if move == "pump" else "📉 Someone rugged"
                await self.send_json({"type": "notice", "text": f"{happened} {symbol}."})
                await self.send_json({"type": "tokens", "tokens": await self.room.tokens()})
        except (StandInError, ValueError) as err:
            await self.send_json({"type": "notice", "text": f"Not sent: {err}"})

    async def _guarded(self, following) -> None:
        """A follower that fails closes the socket, so the page reconnects and starts afresh, rather than going
        quiet."""
        try:
            await following
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("The sandbox's chat page lost track of its chat; closing the socket")
            await self.close(code=1011)

    async def _follow_chat(self) -> None:
        menu, history = None, True  # the first answer is the chat so far (a reload), not news
        while True:
            try:
                events, commands = await self.room.events(after=self.after, timeout=POLL_SECONDS)
            except StandInError as err:
                await self.send_json({"type": "notice", "text": f"{err}; retrying"})
                await asyncio.sleep(2)
                continue
            if commands != menu:
                menu = commands
                await self.send_json({"type": "commands", "commands": commands})
            for event in events:
                self.after = event["seq"]
                if event["kind"] != "commands" and not (history and event["kind"] == "answer"):
                    await self.send_json(present(event))
            history = False
            if not self.funded and any(e.get("message", {}).get("from_bot") for e in events):
                await self._welcome_airdrop()

    async def _follow_tokens(self) -> None:
        while True:
            with contextlib.suppress(StandInError):
                await self.send_json({"type": "tokens", "tokens": await self.room.tokens()})
            await asyncio.sleep(TOKENS_EVERY_SECONDS)

    async def _welcome_airdrop(self) -> None:
        """A wallet the bot just made gets SOL from localnet's faucet once, so the person can trade at once."""
        address = await public_key_of(self.chat_id)
        if address is None:
            return
        self.funded = True
        try:
            if await balance(self.config.solana_rpc_url, address) == 0:
                await self._airdrop(WELCOME_AIRDROP_SOL, address=address)
        except StandInError as err:
            await self.send_json({"type": "notice", "text": f"No airdrop: {err}"})

    async def _airdrop(self, sol: int, *, address: str | None = None) -> None:
        address = address or await public_key_of(self.chat_id)
        if address is None:
            await self.send_json({"type": "notice", "text": "No wallet yet: type /start first."})
            return
        await airdrop(self.config.solana_rpc_url, address, sol * LAMPORTS_PER_SOL)
        await self.send_json({"type": "notice", "text": f"🪂 Sandbox faucet: {sol} SOL airdropped to your wallet "
                                                        f"{address[:4]}…{address[-4:]} (localnet only)."})


def present(event: dict) -> dict:
    """A stand-in event as the page draws it: the bot's HTML made safe, the buttons, who said it."""
    if event["kind"] == "answer":
        return {"type": "toast", "text": event["text"], "alert": event["show_alert"], "seq": event["seq"]}
    if event["kind"] == "delete":
        return {"type": "delete", "message_id": event["message_id"], "seq": event["seq"]}
    message = event["message"]
    from_bot = message.get("from_bot", False)
    shown = telegram_html.render(event["html"])  # the person's own text arrives escaped, and stays so
    if not shown and "sticker" in message:
        shown = message["sticker"].get("emoji", "🖼")
    buttons = [[{"text": b.get("text", ""), "data": b.get("callback_data"), "url": _safe_url(b.get("url"))}
                for b in row]
               for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])]
    return {"type": event["kind"], "message_id": message["message_id"], "from_bot": from_bot, "html": shown,
            "buttons": buttons, "date": message.get("date"), "edited": "edit_date" in message, "seq": event["seq"]}


def _safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://", "tg://")) else None
