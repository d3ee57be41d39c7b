"""Proof: a hostile swap API cannot move a trader's funds. Every attack localnet's hostile venue knows is run through
every path that signs a swap (a buy, a sell, a stop-loss sale, a snipe, and the bot itself): the transaction is
refused before signing, nothing moves, the trader is told, an audit row and a metric record it. Each on both ways
of building the swap: the bot's own transaction composed from /swap-instructions (SWAP_COMPOSE, the default; the
attack rides in Jupiter's instructions) and the transaction /swap builds.

``make proof`` records the "attacks" row: how many attacks were tried, and refused.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from prometheus_client import REGISTRY

from custody.errors import SwapRefused
from custody.models import AuditEvent
from kernel.chain.launches import watch_program_logs
from localnet.venue import ATTACKS
from positions.models import Position, Trade
from positions.monitor import Monitor
from positions.sniping import Sniper
from telegrambot.texts import refusal
from tests.e2e.conftest import Chat, make_trader
from tests.proof.outcomes import record_module
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
REFUSED = "nothing was signed"
# paper_buy: a paper buy of a funded wallet is inspected and simulated like a real one; a refused one is never filled.
PATHS = ("buy", "sell", "monitor_sale", "snipe", "paper_buy")
_names = itertools.count()


@pytest.fixture(scope="module")
def figures(request):
    tried: Counter = Counter()
    refused: Counter = Counter()
    yield tried, refused
    by_path = ", ".join(f"{path} {refused[path]}/{tried[path]}" for path in [*PATHS, "bot"] if tried[path])
    record_module(request, "attacks", database=connection.vendor, cases=sum(tried.values()),
                  tried=sum(tried.values()), refused=sum(refused.values()), kinds=len(ATTACKS),
                  summary=f"{sum(refused.values())} of {sum(tried.values())} attacks refused before signing "
                          f"({len(ATTACKS)} kinds; by path: {by_path}); nothing moved, each audited",
                  result="pass: every attack refused, nothing signed, nothing moved")


@pytest.fixture
def hostile(localnet):
    """Set the venue's attack for one step; always switched off again."""
    def arm(attack: str | None) -> None:
        localnet.jupiter.attack = attack
    yield arm
    localnet.jupiter.attack = None


def _token(localnet):
    return localnet.create_token(f"ATK{next(_names)}", decimals=6, pool_sol_lamports=500 * SOL,
                                 pool_tokens_raw=10**12)


def _refusals() -> float:
    metric = REGISTRY.get_sample_value
    return sum(metric("trading_bot_swaps_refused_total", {"check": check}) or 0 for check in _CHECKS)


_CHECKS = ("quote_mismatch", "lookup_table", "malformed", "signer", "unknown_program", "system_instruction",
           "sol_transfer", "close_account", "approve", "set_authority", "token_instruction", "account_taken",
           "priority_fee", "other_token", "sol_out", "output", "token_out", "over_budget", "tip")


async def _snapshot(trader, localnet, mint: str) -> tuple:
    chain = localnet.chain
    return (chain.sol_balance(trader.wallet.public_key), chain.token_balance(trader.wallet.public_key, mint),
            chain.sol_balance(localnet.jupiter.attacker.pubkey()),
            await Trade.objects.filter(user=trader.wallet).acount(),
            [p async for p in Position.objects.filter(user=trader.wallet).values()])


async def _assert_refused_and_nothing_moved(trader, localnet, mint: str, before: tuple, message: str,
                                            metric_before: float) -> None:
    assert REFUSED in message, message
    assert await _snapshot(trader, localnet, mint) == before
    assert await AuditEvent.objects.filter(user=trader.wallet, action=AuditEvent.Action.SWAP_REFUSED).aexists()
    assert _refusals() > metric_before


@pytest.mark.parametrize("swap_compose", ["true", "false"])  # the bot's composed transaction, and Jupiter's /swap
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("attack", ATTACKS)
async def test_a_hostile_swap_is_refused_before_signing(engine, localnet, transactional_db, hostile, figures,
                                                         attack, path, swap_compose):
    tried, refused = figures
    tried[path] += 1
    trader = await make_trader(engine, localnet, sol=20)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(priority_fee_lamports=100_000)
    token = _token(localnet) if path != "snipe" else None
    if path in ("sell", "monitor_sale"):
        await engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL)  # honest
    metric_before = _refusals()
    composed_before = localnet.jupiter.requests["/swap/v1/swap-instructions"]
    if path == "snipe":
        message, mint, before = await _snipe(engine, localnet, trader, hostile, attack)
    else:
        before = await _snapshot(trader, localnet, token.mint)
        hostile(attack)
        message, mint = await _run(path, engine, localnet, trader, token), token.mint
    await _assert_refused_and_nothing_moved(trader, localnet, mint, before, message, metric_before)
    assert (localnet.jupiter.requests["/swap/v1/swap-instructions"] > composed_before) == (swap_compose == "true")
    refused[path] += 1


async def _run(path: str, engine, localnet, trader, token) -> str:
    from positions.amounts import SellAmount

    if path in ("buy", "paper_buy"):
        with pytest.raises(SwapRefused) as caught:
            await engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                     paper=path == "paper_buy")
        return refusal(caught.value)
    if path == "sell":  # a quarter: an attack that takes twice the amount must find the tokens to take
        with pytest.raises(SwapRefused) as caught:
            await engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.parse("25%"))
        return refusal(caught.value)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(stop_loss_percentage=Decimal(20))
    localnet.jupiter.attack, attack = None, localnet.jupiter.attack  # another trader's dump is an honest swap
    localnet.swap_as(localnet.funded_keypair(sol=1), token.mint, localnet.sol_mint, localnet.pool(token.symbol)[1])
    localnet.jupiter.attack = attack
    told = []
    report = await Monitor(engine, notify=lambda trigger: _append(told, trigger)).run_cycle()
    assert [t.result for t in report.triggers] == [None] and told
    return refusal(told[0].error)


async def _append(items: list, item) -> None:
    items.append(item)


async def _snipe(engine, localnet, trader, hostile, attack) -> tuple[str, str, tuple]:
    await UserSettings.objects.filter(user=trader.wallet).aupdate(snipe_enabled=True, snipe_amount_lamports=SOL // 20)
    sniper = Sniper(engine, word=refusal)
    seen, ready, outcomes = asyncio.Event(), asyncio.Event(), []

    async def on_logs(logs, signature):
        outcomes.extend(await sniper.on_logs(logs, signature))
        seen.set()

    watcher = asyncio.create_task(watch_program_logs(localnet.ws_url, [engine.config.snipe_program_ids[0]],
                                                     on_logs, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        before = await _snapshot(trader, localnet, localnet.sol_mint)
        hostile(attack)
        token = localnet.launch_token(f"SNP{next(_names)}")
        await asyncio.wait_for(seen.wait(), 20)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    mine = [o for o in outcomes if o.telegram_user_id == trader.id]
    assert [o.status for o in mine] == ["skipped"], mine
    before = (before[0], 0, *before[2:])  # a brand-new token: the trader held none of it before
    return mine[0].reason, token.mint, before


@pytest.mark.parametrize("attack", ["drain_transfer", "approve_stranger", "wrong_output_mint"])
async def test_the_trader_is_told_in_telegram_and_nothing_moves(bot, telegram, localnet, hostile, figures, attack):
    tried, refused = figures
    tried["bot"] += 1
    chat = Chat(telegram, 880_000 + ATTACKS.index(attack))
    await chat.say("/start")
    from wallets.models import UserWallet

    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    localnet.chain.airdrop(wallet.public_key, 20 * SOL)
    await UserSettings.objects.filter(user=wallet).aupdate(confirm_trades=False)
    bonk = localnet.token("BONK")
    sol_before = localnet.chain.sol_balance(wallet.public_key)
    hostile(attack)
    reply = await chat.final(await chat.say(f"/buy {bonk.mint} 0.1"))
    assert REFUSED in reply["text"] and "Something went wrong" not in reply["text"]
    assert localnet.chain.sol_balance(wallet.public_key) == sol_before
    assert localnet.chain.sol_balance(localnet.jupiter.attacker.pubkey()) == 0
    assert not await Trade.objects.filter(user=wallet).aexists()
    assert await AuditEvent.objects.filter(user=wallet, action=AuditEvent.Action.SWAP_REFUSED).aexists()
    refused["bot"] += 1
