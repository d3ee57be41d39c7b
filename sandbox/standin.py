"""The sandbox's HTTP clients: the person's side of localnet's Telegram stand-in, and localnet's faucet."""

from __future__ import annotations

import httpx

from kernel.config import TradingConfig

LAMPORTS_PER_SOL = 10**9


class StandInError(Exception):
    """The stand-in refused (the message is its reason, fit to show the person) or could not be reached."""


class ChatRoomClient:
    """One private chat (the person's Telegram user id is the chat id) on the stand-in's ``/chat/`` routes."""

    def __init__(self, *, base_url: str, token: str, chat_id: int) -> None:
        self._prefix = f"{base_url.rstrip('/')}/chat/{token}/{chat_id}"
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=40.0))

    @classmethod
    def from_config(cls, config: TradingConfig, chat_id: int) -> ChatRoomClient:
        if not config.telegram_api_base_url or not config.telegram_bot_token:
            raise StandInError("the sandbox needs TELEGRAM_API_BASE_URL and TELEGRAM_BOT_TOKEN of localnet")
        return cls(base_url=config.telegram_api_base_url, token=config.telegram_bot_token, chat_id=chat_id)

    async def events(self, *, after: int, timeout: float) -> tuple[list[dict], list[dict]]:
        """(events after ``after``, the command menu), waiting up to ``timeout`` seconds for something new."""
        body = await self._call("GET", "events", params={"after": after, "timeout": timeout})
        return body["events"], body["commands"]

    async def say(self, text: str) -> None:
        await self._call("POST", "say", json={"text": text})

    async def press(self, message_id: int, data: str) -> None:
        await self._call("POST", "press", json={"message_id": message_id, "data": data})

    async def move(self, symbol: str, kind: str) -> None:
        """Pump or rug a token on localnet now (another trader's big swap)."""
        await self._call("POST", "move", json={"symbol": symbol, "kind": kind})

    async def tokens(self) -> list[dict]:
        return (await self._call("GET", "tokens"))["tokens"]

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, action: str, **kwargs) -> dict:
        try:
            response = await self._http.request(method, f"{self._prefix}/{action}", **kwargs)
            body = response.json()
        except (httpx.HTTPError, ValueError) as err:
            raise StandInError(f"the Telegram stand-in is unreachable ({type(err).__name__})") from None
        if not body.get("ok"):
            raise StandInError(body.get("description", f"HTTP {response.status_code}"))
        return body


async def airdrop(rpc_url: str, address: str, lamports: int) -> None:
    """localnet's faucet (``requestAirdrop``): free SOL on the local chain, never on a real one."""
    await _rpc(rpc_url, "requestAirdrop", [address, lamports])


async def balance(rpc_url: str, address: str) -> int:
    return int((await _rpc(rpc_url, "getBalance", [address]))["value"])


async def _rpc(rpc_url: str, method: str, params: list):
    payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            body = (await http.post(rpc_url, json=payload)).json()
    except (httpx.HTTPError, ValueError) as err:
        raise StandInError(f"localnet's RPC is unreachable ({type(err).__name__})") from None
    if "error" in body:
        raise StandInError(body["error"].get("message", "RPC error"))
    return body["result"]
