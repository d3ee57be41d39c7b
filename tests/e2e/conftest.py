"""Fixtures that run the real trading stack against localnet: real RPC client, real HTTP, real signatures."""

from __future__ import annotations

import contextlib
import itertools
import threading

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from custody.services import get_or_create_user_wallet
from kernel.chain.jito import BlockEngineClient
from kernel.chain.jupiter import JupiterClient
from kernel.chain.rpc import RpcGateway
from kernel.config import TradingConfig, load_config
from positions.trading import TradingService
from tests.settings import TEST_WALLET_KEY
from wallets.crypto import Keyring

_user_ids = itertools.count(700_000)
PAPER_BANNER = "📝 PAPER MODE · trades use virtual SOL · /paper\n\n"  # as the stand-in shows it, tags stripped
_chat_ids = itertools.count(800_000)


@pytest.fixture
def swap_compose() -> str:
    """SWAP_COMPOSE for the engine and the bot (the default, composed swaps). A test or module parametrized on
    ``swap_compose`` (``["true", "false"]``) runs on both paths: composed, and Jupiter's /swap transaction."""
    return "true"


@pytest.fixture
def trading_config(localnet, swap_compose) -> TradingConfig:
    return load_config({
        "SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url, "SOLANA_WS_URL": localnet.ws_url,
        "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_LOSS_SOL": "3",
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "DEFAULT_SLIPPAGE_BPS": "100", "SNIPE_MIN_LIQUIDITY_SOL": "10",
        "SWAP_COMPOSE": swap_compose, "JITO_BLOCK_ENGINE_URL": localnet.block_engine_url,
    })


@pytest_asyncio.fixture
async def engine(trading_config):
    rpc = RpcGateway(trading_config.solana_rpc_url, timeout=5.0, backoff=0.05,
                     rebroadcast_seconds=trading_config.rebroadcast_seconds)
    jupiter = JupiterClient(trading_config.jupiter_api_url, timeout=5.0, backoff=0.05)
    block_engine = BlockEngineClient(trading_config.jito_block_engine_url)
    service = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(trading_config.wallet_encryption_keys),
                             config=trading_config, block_engine=block_engine)
    yield service
    await rpc.close()
    await jupiter.close()
    await block_engine.close()


_token_names = itertools.count()
SOL = 10**9


def fresh_token(localnet, prefix: str = "TOK"):
    """A token of the test's own (500 SOL in its pool), so prices moved there move nowhere else."""
    return localnet.create_token(f"{prefix}{next(_token_names)}", decimals=6, pool_sol_lamports=500 * SOL,
                                 pool_tokens_raw=10**12)


def dump(localnet, token, fraction_of_pool: int = 1) -> None:
    """Another trader sells as many tokens as the pool holds: the price falls to about a quarter."""
    localnet.swap_as(localnet.funded_keypair(sol=1), token.mint, localnet.sol_mint,
                     localnet.pool(token.symbol)[1] * fraction_of_pool)


def pump(localnet, token, sol: int = 500) -> None:
    """Another trader buys for ``sol``: on a fresh token's 500 SOL pool the price rises about fourfold."""
    localnet.swap_as(localnet.funded_keypair(sol=sol + 100), localnet.sol_mint, token.mint, sol * SOL)


class Trader:
    """A user with a funded custodial wallet, and the helpers tests need to act as them."""

    def __init__(self, engine: TradingService, localnet, telegram_user_id: int, wallet) -> None:
        self.engine = engine
        self.localnet = localnet
        self.id = telegram_user_id
        self.wallet = wallet

    async def buy(self, symbol: str, lamports: int):
        return await self.engine.execute_buy(telegram_user_id=self.id, mint=self.localnet.token(symbol).mint,
                                             lamports=lamports)

    async def sell(self, symbol: str, amount):
        from positions.amounts import SellAmount

        parsed = amount if isinstance(amount, SellAmount) else SellAmount.parse(amount)
        return await self.engine.execute_sell(telegram_user_id=self.id, mint=self.localnet.token(symbol).mint,
                                              amount=parsed)

    def sol(self) -> int:
        return self.localnet.chain.sol_balance(self.wallet.public_key)

    def tokens(self, symbol: str) -> int:
        return self.localnet.chain.token_balance(self.wallet.public_key, self.localnet.token(symbol).mint)


async def make_trader(engine, localnet, *, sol: int = 10) -> Trader:
    user_id = next(_user_ids)
    wallet = (await sync_to_async(get_or_create_user_wallet)(user_id, f"t{user_id}", config=engine.config)).wallet
    if sol:
        localnet.chain.airdrop(wallet.public_key, sol * 10**9)
    return Trader(engine, localnet, user_id, wallet)


@pytest_asyncio.fixture
async def trader(engine, localnet, transactional_db) -> Trader:
    return await make_trader(engine, localnet)


@pytest.fixture
def bot_config(localnet, telegram, swap_compose) -> TradingConfig:
    return load_config({
        "SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url, "SOLANA_WS_URL": localnet.ws_url,
        "SNIPE_MIN_LIQUIDITY_SOL": "10", "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url,
        "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_LOSS_SOL": "3",
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "ADMIN_TELEGRAM_IDS": "900001",
        "TELEGRAM_WEBHOOK_SECRET": "test-webhook-secret", "TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:9/telegram/webhook/",
        "MONITOR_INTERVAL_SECONDS": "1", "SWAP_COMPOSE": swap_compose,
        "JITO_BLOCK_ENGINE_URL": localnet.block_engine_url,
    })


@contextlib.asynccontextmanager
async def running_bot(config: TradingConfig):
    """The real bot on ``config``, polling the Bot API stand-in in this test's event loop until the block ends."""
    import asyncio

    from telegrambot.runner import BotRunner

    runner = BotRunner(config, key_message_seconds=1)
    runner.deps.throttle_limit = 1000  # tests type fast; throttling has its own test
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_polling(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@pytest_asyncio.fixture
async def bot(bot_config, transactional_db):
    """The real bot, polling the Bot API stand-in in this test's event loop."""
    async with running_bot(bot_config) as runner:
        yield runner


class Chat:
    """One user talking to the bot through the stand-in."""

    def __init__(self, telegram, user_id: int, username: str = "") -> None:
        self.telegram = telegram
        self.user_id = user_id
        self.username = username or f"user{user_id}"

    async def say(self, text: str, *, timeout: float = 20.0) -> dict:
        await self.telegram.send_text(self.user_id, text, username=self.username)
        return await self.telegram.next_reply(self.user_id, timeout=timeout)

    async def press(self, message: dict, data: str, *, timeout: float = 20.0, forge: bool = False) -> dict:
        await self.telegram.press(self.user_id, message, data, forge=forge)
        return await self.telegram.next_reply(self.user_id, timeout=timeout)

    async def final(self, first: dict, *, timeout: float = 30.0) -> dict:
        """Follow a progress message through its edits until it shows a result."""
        message = first
        while message["text"].removeprefix(PAPER_BANNER).startswith("⏳"):
            message = await self.telegram.next_reply(self.user_id, timeout=timeout)
        return message


def buttons(message: dict) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {b["text"]: b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row}


@pytest.fixture
def chat_factory(telegram):
    """A new user each call, never one an earlier test used: a bot stopping at the end of a test may still be
    finishing a reply to its own users, which must not land in this test's chats."""
    return lambda: Chat(telegram, next(_chat_ids))


class ManualClock:
    """Time that tests move forward instead of sleeping (the bot reads it through ``deps.clock``)."""

    def __init__(self) -> None:
        from django.utils import timezone

        self._now = timezone.now()

    def now(self):
        return self._now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self._now += timedelta(**delta)


@pytest.fixture
def clock(bot) -> ManualClock:
    bot.deps.clock = ManualClock()
    return bot.deps.clock


class Handled:
    """Tells when the bot has finished handling an update, whatever its handlers did (an update stopped before any
    handler, in a group or as a duplicate, gets no reply to wait for). Wraps the Application's own entry point,
    which polling and the webhook view both call."""

    def __init__(self, application) -> None:
        import asyncio
        from collections import Counter

        self._counts: Counter[int] = Counter()
        self._changed = asyncio.Event()
        original = application.process_update

        async def process_update(update) -> None:
            try:
                await original(update)
            finally:
                self._counts[update.update_id] += 1
                self._changed.set()

        application.process_update = process_update

    async def wait(self, update_id: int, *, times: int = 1, timeout: float = 20.0) -> None:
        import asyncio

        async with asyncio.timeout(timeout):
            while self._counts[update_id] < times:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def handled(bot) -> Handled:
    return Handled(bot.application)


FAST_RESEND = 0.1  # seconds: many resends within a blockhash's 150 blocks at one block per 20 ms


class BlockClock:
    """Blocks keep coming while we trade (one per ``seconds``), so a blockhash really expires: 150 blocks in 3 s."""

    def __init__(self, chain, *, seconds: float = 0.02) -> None:
        self._chain, self._seconds, self._stop = chain, seconds, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._chain.advance_blocks(1)

    def __enter__(self) -> BlockClock:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def engine_resending_every(config, *, rebroadcast_seconds: float):
    rpc = RpcGateway(config.solana_rpc_url, timeout=5.0, backoff=0.05, rebroadcast_seconds=rebroadcast_seconds)
    jupiter = JupiterClient(config.jupiter_api_url, timeout=5.0, backoff=0.05)
    block_engine = BlockEngineClient(config.jito_block_engine_url) if config.jito_block_engine_url else None
    return TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config,
                          block_engine=block_engine)


@pytest_asyncio.fixture
async def resending(trading_config):
    engine = await engine_resending_every(trading_config, rebroadcast_seconds=FAST_RESEND)
    yield engine
    await engine.rpc.close()
    await engine.jupiter.close()
    if engine.block_engine is not None:
        await engine.block_engine.close()
