"""Sniping against localnet: launches announced over the websocket the way pump.fun's program logs them."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest

from positions.models import Position, Snipe
from positions.sniping import Sniper, parse_launch
from tests.e2e.conftest import make_trader
from tradingbot.chain.launches import watch_program_logs
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
_names = itertools.count()


async def _sniper_user(engine, localnet, *, amount=SOL // 20, **settings):
    trader = await make_trader(engine, localnet, sol=5)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(snipe_enabled=True, snipe_amount_lamports=amount,
                                                                  **settings)
    return trader


def _symbol() -> str:
    return f"NEW{next(_names)}"


async def _launch_and_handle(localnet, sniper, **launch):
    """Launch a token and let the watcher, subscribed over the real websocket, hand it to the sniper."""
    seen = asyncio.Event()
    outcomes = []

    async def on_logs(logs, signature):
        outcomes.extend(await sniper.on_logs(logs, signature))
        seen.set()

    ready = asyncio.Event()
    watcher = asyncio.create_task(watch_program_logs(localnet.ws_url, [sniper.engine.config.snipe_program_ids[0]],
                                                     on_logs, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        token = localnet.launch_token(_symbol(), **launch)
        await asyncio.wait_for(seen.wait(), 20)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return token, outcomes


async def test_a_launch_is_bought_for_snipe_enabled_users_only(engine, localnet, transactional_db):
    sniper_user = await _sniper_user(engine, localnet)
    bystander = await make_trader(engine, localnet, sol=5)
    token, outcomes = await _launch_and_handle(localnet, Sniper(engine))
    assert [(o.telegram_user_id, o.status) for o in outcomes] == [(sniper_user.id, "bought")]
    position = await Position.objects.aget(user=sniper_user.wallet, token_mint=token.mint)
    assert position.remaining_amount_raw == localnet.chain.token_balance(sniper_user.wallet.public_key, token.mint)
    assert position.entry_cost_lamports >= SOL // 20
    snipe = await Snipe.objects.aget(user=sniper_user.wallet)
    assert snipe.status == "bought" and snipe.trade_signature
    assert not await Snipe.objects.filter(user=bystander.wallet).aexists()


@pytest.mark.parametrize(("launch", "reason"), [
    ({"freeze_authority": True}, "freeze authority is set"),
    ({"mint_authority_revoked": False}, "mint authority is not revoked"),
    ({"pool_sol_lamports": 2 * SOL}, "below the 10 SOL minimum"),
])
async def test_an_unsafe_launch_is_skipped_with_its_reason(engine, localnet, transactional_db, launch, reason):
    trader = await _sniper_user(engine, localnet)
    sol_before = trader.sol()
    token, outcomes = await _launch_and_handle(localnet, Sniper(engine), **launch)
    assert [o.status for o in outcomes] == ["skipped"] and reason in outcomes[0].reason
    snipe = await Snipe.objects.aget(user=trader.wallet, token_mint=token.mint)
    assert snipe.status == "skipped" and reason in snipe.reason
    assert trader.sol() == sol_before and not await Position.objects.filter(user=trader.wallet).aexists()


async def test_a_user_over_their_limits_is_skipped(engine, localnet, transactional_db):
    small = await _sniper_user(engine, localnet, amount=SOL, max_trade_size_lamports=SOL // 10)
    _, outcomes = await _launch_and_handle(localnet, Sniper(engine))
    assert outcomes[0].status == "skipped" and "maximum trade size" in outcomes[0].reason
    assert (await Snipe.objects.aget(user=small.wallet)).status == "skipped"


async def test_a_user_at_the_daily_loss_limit_is_skipped(engine, localnet, transactional_db):
    from django.utils import timezone

    from positions.models import Trade

    trader = await _sniper_user(engine, localnet, daily_loss_limit_lamports=SOL // 100)
    await Trade.objects.acreate(user=trader.wallet, token_mint=localnet.token("BONK").mint, token_decimals=5,
                                side="sell", status="confirmed", signature=f"loss-{trader.id}",
                                realized_pnl_lamports=-SOL // 50, last_valid_block_height=1,
                                resolved_at=timezone.now())
    _, outcomes = await _launch_and_handle(localnet, Sniper(engine))
    assert outcomes[0].status == "skipped" and "daily loss limit" in outcomes[0].reason


async def test_a_duplicate_notification_buys_nothing_twice(engine, localnet, transactional_db):
    trader = await _sniper_user(engine, localnet)
    sniper = Sniper(engine)
    token = localnet.launch_token(_symbol())
    from positions.sniping import Launch

    launch = Launch(mint=token.mint, name="x", symbol="x", signature="s")
    first, second = await asyncio.gather(sniper.handle(launch), sniper.handle(launch))
    assert len(first) + len(second) == 1
    assert await Snipe.objects.filter(user=trader.wallet).acount() == 1


def test_only_create_logs_with_a_create_event_are_launches():
    assert parse_launch(["Program log: Instruction: Buy"], "s") is None
    assert parse_launch(["Program log: Instruction: Create", "Program data: !!notbase64"], "s") is None


async def test_the_bot_snipes_and_tells_the_user(bot, chat_factory, localnet):
    chat = chat_factory()
    await chat.say("/start")
    wallet = (await UserSettings.objects.select_related("user").aget(user__telegram_user_id=chat.user_id)).user
    localnet.chain.airdrop(wallet.public_key, 2 * SOL)
    await chat.say("/set snipeamount 0.05")
    await chat.telegram.next_reply(chat.user_id)
    await chat.say("/set snipe on")
    await chat.telegram.next_reply(chat.user_id)
    for _ in range(100):  # the runner subscribes right after it starts polling
        if localnet.logs.subscriber_count:
            break
        await asyncio.sleep(0.05)
    token = localnet.launch_token(_symbol())
    told = await chat.telegram.wait_for(chat.user_id, lambda r: "Sniped" in r["text"], timeout=20)
    assert token.mint in told["text"]
    listing = await chat.say("/positions")
    assert "Recent snipes" in listing["text"] and "bought for 0.05 SOL" in listing["text"]
    assert Decimal(0) < (await Position.objects.aget(user=wallet, token_mint=token.mint)).remaining_amount_tokens
