"""Races: fifty sells of one position at once (through the bot, and straight into the engine), a buy, a sell and a
withdrawal of everything racing each other, and one user's /start sent twenty times at once. Never oversold, never a
negative balance in the ledger, the ledger equal to the chain, one wallet per user. Cross-process races on row locks
run on PostgreSQL (``tests/positions/test_ledger.py``, ``tests/wallets/test_wallets.py``); these run on both, and
``make proof`` (PROOF=1) insists on PostgreSQL. The figures are recorded, with the database, once the module is
done, and read "pass" only if every race in it ran and passed."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from custody.money_out import MoneyOut
from kernel.chain.errors import ChainError, JupiterError
from kernel.errors import UserFacingError
from positions.amounts import SellAmount
from positions.models import Position, Trade
from telegrambot import texts
from telegrambot.texts import refusal
from tests.e2e.conftest import make_trader
from tests.proof.outcomes import record_module
from tests.proof.scale import FULL, record, scaled
from wallets.models import UserWallet, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


@pytest.fixture(scope="module")
def figures(request):
    """Each race adds its figures; recorded after the module's last test, as "pass" only if every race passed."""
    if FULL and connection.vendor != "postgresql":
        record("races", database=connection.vendor, result="FAILED: the full races must run on PostgreSQL")
        pytest.fail("the full races run on PostgreSQL (make proof sets DATABASE_URL)")
    figures: dict = {}
    yield figures
    parts = [f"{name}: " + ", ".join(f"{k} {v}" for k, v in race.items()) for name, race in figures.items()]
    record_module(request, "races", database=connection.vendor, **figures, summary="; ".join(parts),
                  result="pass: never oversold, no negative balance, one wallet per user")


def _bot_messages(telegram, chat_id: int, after_id: int) -> list[str]:
    return [m.get("text", "") for m in telegram.messages(chat_id)
            if m.get("from", {}).get("is_bot") and m["message_id"] > after_id]


async def _ledger_matches_chain(wallet: UserWallet, localnet, deposited: int) -> None:
    flows = 0
    for model in (Trade, Withdrawal):
        total = await model.objects.filter(user=wallet).exclude(status="pending").aaggregate(
            total=Sum("sol_change_lamports"))
        flows += total["total"] or 0
    assert localnet.chain.sol_balance(wallet.public_key) == deposited + flows
    open_raw: dict[str, int] = {}
    async for position in Position.objects.filter(user=wallet):
        assert position.remaining_amount_raw >= 0 and position.reserved_raw == 0
        open_raw[position.token_mint] = open_raw.get(position.token_mint, 0) + (
            position.remaining_amount_raw if position.is_open else 0)
    for mint, raw in open_raw.items():
        assert localnet.chain.token_balance(wallet.public_key, mint) == raw, mint
    assert not await Trade.objects.filter(user=wallet, status="pending").aexists()


async def test_fifty_sells_through_the_bot_never_oversell(bot, chat_factory, localnet, telegram, figures):
    count = scaled(20, 50)
    chat = chat_factory()
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    localnet.chain.airdrop(wallet.public_key, 10 * SOL)
    mint = localnet.token("BONK").mint
    bought = await chat.final(await chat.say(f"/buy {mint} 0.5"))
    assert "Bought" in bought["text"]
    last_id = max(m["message_id"] for m in telegram.messages(chat.user_id))
    for index in range(count):
        await telegram.send_text(chat.user_id, f"/sell {mint} {('25%', '50%', 'all', '10%')[index % 4]}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = _bot_messages(telegram, chat.user_id, last_id)
        if len(replies) >= count and not any(text.startswith("⏳") for text in replies):
            break
        await asyncio.sleep(0.1)
    replies = _bot_messages(telegram, chat.user_id, last_id)
    assert len(replies) >= count and not any(texts.SERVICE_PROBLEM in text for text in replies)
    sold = sum("Sold" in text for text in replies)
    assert sold >= 1
    await _ledger_matches_chain(wallet, localnet, 10 * SOL)
    figures["bot_sells"] = {"commands": count, "sold": sold, "refused": len(replies) - sold}


async def test_fifty_concurrent_engine_sells_of_one_position(engine, localnet, transactional_db, figures):
    count = scaled(20, 50)
    trader = await make_trader(engine, localnet, sol=10)
    await trader.buy("WIF", SOL)
    # Distinct amounts: identical sells build one identical transaction, which the chain takes once.
    results = await asyncio.gather(*(trader.sell("WIF", SellAmount.parse(f"{1 + index % 9}%"))
                                     for index in range(count)), return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not _refusal(r)]
    assert not unexpected, unexpected[:3]
    sold = [r for r in results if not isinstance(r, BaseException)]
    assert sold, [refusal(r) for r in results][:3]
    position = await Position.objects.aget(user=trader.wallet)
    assert position.remaining_amount_raw == trader.tokens("WIF") >= 0
    await _ledger_matches_chain(trader.wallet, localnet, 10 * SOL)
    figures["engine_sells"] = {"concurrent": count, "sold": len(sold), "refused": count - len(sold)}


async def test_a_buy_a_sell_and_a_withdrawal_of_everything_racing(engine, localnet, transactional_db, figures):
    rounds = scaled(5, 20)
    outcomes: dict[str, int] = {}
    for _ in range(rounds):
        trader = await make_trader(engine, localnet, sol=3)
        await trader.buy("JUP", SOL // 2)
        destination = str(localnet.funded_keypair(sol=1).pubkey())
        money_out = MoneyOut(rpc=engine.rpc, keyring=engine.keyring, policy=engine.config.custody)
        now = timezone.now()
        plan = await money_out.plan(trader.wallet, destination=destination, lamports=None, now=now, source="test")
        results = await asyncio.gather(
            trader.buy("BONK", SOL // 2), trader.sell("JUP", SellAmount.parse("50%")),
            money_out.withdraw(trader.wallet, plan, now=now, source="test"),
            return_exceptions=True)
        for name, result in zip(("buy", "sell", "withdrawal"), results, strict=True):
            if isinstance(result, BaseException):
                assert _refusal(result), repr(result)
                key = f"{name} refused"
            else:
                key = f"{name} done"
            outcomes[key] = outcomes.get(key, 0) + 1
        assert localnet.chain.sol_balance(trader.wallet.public_key) >= 0
        await _ledger_matches_chain(trader.wallet, localnet, 3 * SOL)
    figures["buy_sell_withdraw"] = {"rounds": rounds, **outcomes}


async def test_twenty_starts_at_once_make_one_wallet(bot, chat_factory, telegram, figures):
    chat = chat_factory()
    last_id = max((m["message_id"] for m in telegram.messages(chat.user_id)), default=0)
    for _ in range(20):
        await telegram.send_text(chat.user_id, "/start")
    deadline = time.monotonic() + 30
    while len(_bot_messages(telegram, chat.user_id, last_id)) < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await UserWallet.objects.filter(telegram_user_id=chat.user_id).acount() == 1
    figures["starts"] = {"concurrent": 20, "wallets": 1}


def _refusal(error: BaseException) -> bool:
    """A refusal the trader reads (trading's, custody's or the withdrawal's), never a chain or swap-API fault."""
    return isinstance(error, UserFacingError) and not isinstance(error, ChainError | JupiterError)
