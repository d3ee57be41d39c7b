"""Sniping against localnet: launches announced over the websocket the way pump.fun's program logs them."""

from __future__ import annotations

import asyncio
import base64
import itertools
from decimal import Decimal

import pytest

from kernel.chain.launches import watch_program_logs
from localnet import CREATE_EVENT_DISCRIMINATOR
from positions.models import Position, Snipe, SnipeLaunch, Trade
from positions.sniping import CREATE_EVENT, Sniper, parse_launch, pool_sol_lamports
from telegrambot.texts import refusal
from tests.e2e.conftest import BlockClock, make_trader
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
    token, outcomes = await _launch_and_handle(localnet, Sniper(engine, word=refusal))
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
    token, outcomes = await _launch_and_handle(localnet, Sniper(engine, word=refusal), **launch)
    assert [o.status for o in outcomes] == ["skipped"] and reason in outcomes[0].reason
    launch = await SnipeLaunch.objects.aget(token_mint=token.mint)
    assert reason in launch.reason and launch.users_affected == 1
    assert not await Snipe.objects.filter(token_mint=token.mint).aexists()  # a token-level skip: no per-user row
    assert trader.sol() == sol_before and not await Position.objects.filter(user=trader.wallet).aexists()


async def test_a_user_over_their_limits_is_skipped(engine, localnet, transactional_db):
    small = await _sniper_user(engine, localnet, amount=SOL, max_trade_size_lamports=SOL // 10)
    _, outcomes = await _launch_and_handle(localnet, Sniper(engine, word=refusal))
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
    _, outcomes = await _launch_and_handle(localnet, Sniper(engine, word=refusal))
    assert outcomes[0].status == "skipped" and "daily loss limit" in outcomes[0].reason


async def test_a_duplicate_notification_buys_nothing_twice(engine, localnet, transactional_db):
    trader = await _sniper_user(engine, localnet)
    sniper = Sniper(engine, word=refusal)
    token = localnet.launch_token(_symbol())
    from positions.sniping import Launch

    launch = Launch(mint=token.mint, name="x", symbol="x", signature="s")
    first, second = await asyncio.gather(sniper.handle(launch), sniper.handle(launch))
    assert len(first) + len(second) == 1
    assert await Snipe.objects.filter(user=trader.wallet).acount() == 1


def test_only_create_logs_with_a_create_event_are_launches():
    assert parse_launch(["Program log: Instruction: Buy"], "s") is None
    assert parse_launch(["Program log: Instruction: Create", "Program data: !!notbase64"], "s") is None
    # Another event after the Create line (a trade in the same transaction) is never decoded as a launch.
    fields = b"".join(len(text).to_bytes(4, "little") + text for text in (b"Coin", b"COIN", b"uri")) + bytes(range(96))
    create = base64.b64encode(CREATE_EVENT + fields).decode()
    trade = base64.b64encode(bytes(8) + fields).decode()  # the same shape under another event's discriminator
    assert parse_launch(["Program log: Instruction: Create", f"Program data: {create}"], "s") is not None
    assert parse_launch(["Program log: Instruction: Create", f"Program data: {trade}"], "s") is None


def test_the_create_event_discriminator_is_anchors():
    assert CREATE_EVENT == CREATE_EVENT_DISCRIMINATOR  # sha256("event:CreateEvent")[:8], as localnet writes it


async def test_a_launch_unknown_to_price_apis_is_judged_by_its_own_pool(engine, localnet):
    """Price v3 has nothing on a token seconds old (localnet leaves it out, as Jupiter does): the pool's depth is
    read from two quotes instead."""
    token = localnet.launch_token(_symbol(), pool_sol_lamports=30 * SOL)
    assert token.mint not in await engine.jupiter.usd_prices([token.mint])
    estimate = await pool_sol_lamports(engine.jupiter, token.mint, probe=SOL // 10)
    assert abs(estimate - localnet.pool(token.symbol)[0]) * 20 < localnet.pool(token.symbol)[0]  # within 5%


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
    assert bot.launches.dropped == 0 and bot.application.job_queue.get_jobs_by_name("prune-snipes")
    assert Decimal(0) < (await Position.objects.aget(user=wallet, token_mint=token.mint)).remaining_amount_tokens


async def test_a_launch_failing_screening_is_one_row_for_fifty_users(engine, localnet, transactional_db):
    from asgiref.sync import sync_to_async

    from custody.services import update_setting
    from positions.selectors import recent_snipes

    traders = [await make_trader(engine, localnet, sol=0) for _ in range(50)]
    await UserSettings.objects.filter(user__in=[t.wallet for t in traders]).aupdate(
        snipe_enabled=True, snipe_amount_lamports=SOL // 20)
    sniper = Sniper(engine, word=refusal)
    token, outcomes = await _launch_and_handle(localnet, sniper, freeze_authority=True)
    assert len(outcomes) == 50 and {o.status for o in outcomes} == {"skipped"}
    assert await Snipe.objects.acount() == 0
    launch = await SnipeLaunch.objects.aget()
    assert launch.token_mint == token.mint and "freeze authority is set" in launch.reason
    assert launch.users_affected == 50 and launch.lamports == 50 * (SOL // 20)
    # The same launch announced again (a reconnect, a second worker) adds nothing.
    assert await sniper.on_logs(*_launch_logs(token)) == []
    assert await SnipeLaunch.objects.acount() == 1 and await Snipe.objects.acount() == 0
    # Each of them still sees the decision in /positions; someone whose sniping was switched on later does not.
    history = await recent_snipes(traders[0].wallet.pk)
    assert [(e.token_mint, e.status) for e in history.entries] == [(token.mint, "skipped")]
    assert "freeze authority is set" in history.entries[0].reason and history.more_skipped == 0
    await sync_to_async(update_setting)(telegram_user_id=traders[1].id, key="snipe", value=True)
    assert (await recent_snipes(traders[1].wallet.pk)).entries == []
    # Past the five listed, the rest are a count.
    from django.utils import timezone

    from telegrambot import texts

    for n in range(6):
        await SnipeLaunch.objects.acreate(token_mint=f"Later{n}", reason="liquidity too low", users_affected=50,
                                          detected_at=timezone.now())
    history = await recent_snipes(traders[0].wallet.pk)
    assert len(history.entries) == 5 and history.more_skipped == 2
    assert "…and 2 more new token(s) skipped for every sniper while your sniping was on" in texts.recent_snipes(
        history)


def _launch_logs(token) -> tuple[list[str], str]:
    """The logs pump.fun writes for this token's launch, as the watcher delivers them (a duplicate notification)."""
    import base64

    from solders.pubkey import Pubkey

    from localnet import CREATE_EVENT_DISCRIMINATOR

    event = CREATE_EVENT_DISCRIMINATOR + b"".join(len(t).to_bytes(4, "little") + t for t in (b"n", b"s", b"u"))
    event += bytes(Pubkey.from_string(token.mint)) + bytes(64)
    return ["Program log: Instruction: Create", f"Program data: {base64.b64encode(event).decode()}"], "dup"


def _dropped(reason: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("trading_bot_snipe_launches_dropped_total", {"reason": reason}) or 0.0


async def test_a_burst_of_launches_past_the_queue_drops_the_oldest_and_buys_the_rest_once(
        engine, localnet, transactional_db):
    from positions.sniping import LaunchQueue

    traders = [await _sniper_user(engine, localnet) for _ in range(2)]
    queue = LaunchQueue(Sniper(engine, word=refusal), maxsize=3, workers=2)
    dropped_before = _dropped("queue_full")
    seen: list[tuple[list[str], str]] = []

    async def on_logs(logs, signature):
        seen.append((logs, signature))
        await queue.on_logs(logs, signature)

    ready = asyncio.Event()
    watcher = asyncio.create_task(watch_program_logs(localnet.ws_url, [engine.config.snipe_program_ids[0]], on_logs,
                                                     ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        # The workers are not running yet (as if busy): eight launches arrive while the queue holds three.
        tokens = [localnet.launch_token(_symbol()) for _ in range(8)]
        async with asyncio.timeout(20):
            while len(seen) < 8:
                await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    assert queue.qsize() == queue.maxsize == 3 and queue.dropped == 5
    assert _dropped("queue_full") - dropped_before == 5
    for logs, signature in seen[-3:]:  # duplicate notifications of launches already waiting are not queued again
        await queue.on_logs(logs, signature)
    assert queue.qsize() == 3 and queue.dropped == 5
    queue.start()
    await asyncio.wait_for(queue.join(), 60)
    for logs, signature in seen[-3:]:  # the bought launches announced again once handled: nothing is bought twice
        await queue.on_logs(logs, signature)
    await asyncio.wait_for(queue.join(), 60)
    await queue.close()
    kept = {token.mint for token in tokens[-3:]}
    for trader in traders:
        bought = {mint async for mint in Trade.objects.filter(user=trader.wallet, side="buy", status="confirmed")
                  .values_list("token_mint", flat=True)}
        assert bought == kept
        assert await Trade.objects.filter(user=trader.wallet).acount() == 3
    assert await Snipe.objects.filter(status="bought").acount() == 2 * 3 and await Snipe.objects.acount() == 2 * 3
    # A launch offered after close is dropped, counted, and never handled.
    shutdown_before = _dropped("shutdown")
    assert queue.offer(parse_launch(*seen[0])) is False
    assert _dropped("shutdown") - shutdown_before == 1


async def test_prune_deletes_old_skips_only(engine, localnet, transactional_db, caplog):
    from datetime import timedelta

    from asgiref.sync import sync_to_async
    from django.core.management import CommandError, call_command
    from django.utils import timezone

    trader = await make_trader(engine, localnet, sol=0)
    now = timezone.now()
    old = now - timedelta(days=8)

    async def snipe(mint: str, status: str, *, at, trade_signature: str = "") -> Snipe:
        row = await Snipe.objects.acreate(user=trader.wallet, token_mint=mint, status=status, reason=status,
                                          trade_signature=trade_signature, detected_at=at)
        await Snipe.objects.filter(pk=row.pk).aupdate(created_at=at)
        return row

    async def launch(mint: str, *, at) -> SnipeLaunch:
        row = await SnipeLaunch.objects.acreate(token_mint=mint, reason="freeze authority is set", users_affected=50,
                                                detected_at=at)
        await SnipeLaunch.objects.filter(pk=row.pk).aupdate(created_at=at)
        return row

    await launch("OldLaunch", at=old)
    new_launch = await launch("NewLaunch", at=now)
    await snipe("OldSkip", "skipped", at=old)
    new_skip = await snipe("NewSkip", "skipped", at=now)
    kept = [await snipe("OldBought", "bought", at=old, trade_signature="sig-bought"),
            await snipe("OldFailed", "failed", at=old),
            await snipe("OldTried", "skipped", at=old)]  # refused at landing: its trade explains it, so it stays
    await Trade.objects.acreate(user=trader.wallet, token_mint="OldTried", token_decimals=6, side="buy",
                                status="failed", signature="sig-tried", last_valid_block_height=1)

    with caplog.at_level("INFO", logger="positions.sniping"):
        out = await sync_to_async(_call)(call_command, "prune_snipes")
    assert "Deleted 1 skipped launch(es) and 1 skipped snipe(s) older than 7 day(s)." in out
    assert "Pruned 1 skipped launches and 1 skipped snipes older than 7 days" in caplog.text
    assert {pk async for pk in SnipeLaunch.objects.values_list("pk", flat=True)} == {new_launch.pk}
    assert {pk async for pk in Snipe.objects.values_list("pk", flat=True)} == {new_skip.pk, *(k.pk for k in kept)}
    with pytest.raises(CommandError, match="--days must be at least 1"):
        await sync_to_async(_call)(call_command, "prune_snipes", "--days", "0")
    assert await Snipe.objects.acount() == 4  # a bad --days changes nothing
    again = await sync_to_async(_call)(call_command, "prune_snipes", "--days", "1")
    assert "Deleted 0 skipped launch(es) and 0 skipped snipe(s) older than 1 day(s)." in again


def _call(call_command, *args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


async def test_shutdown_lets_a_buy_in_flight_finish_and_drops_waiting_launches(engine, localnet, transactional_db):
    from positions.sniping import Launch, LaunchQueue

    trader = await _sniper_user(engine, localnet)
    first = localnet.create_token(_symbol(), decimals=6, pool_sol_lamports=30 * SOL, pool_tokens_raw=10**15)
    queue = LaunchQueue(Sniper(engine, word=refusal), maxsize=5, workers=1)
    queue.start()
    queue.offer(Launch(mint=first.mint, name="a", symbol="a", signature="s1"))
    async with asyncio.timeout(20):  # the worker has claimed it: the buy is under way
        while not await Snipe.objects.filter(user=trader.wallet, token_mint=first.mint).aexists():
            await asyncio.sleep(0.01)
    await queue.close(grace=30)
    assert (await Snipe.objects.aget(user=trader.wallet, token_mint=first.mint)).status == "bought"
    # A queue whose workers never got to its launches drops them at shutdown, counted, and nothing is bought.
    idle = LaunchQueue(Sniper(engine, word=refusal), maxsize=5, workers=1)
    waiting = localnet.create_token(_symbol(), decimals=6, pool_sol_lamports=30 * SOL, pool_tokens_raw=10**15)
    idle.offer(Launch(mint=waiting.mint, name="b", symbol="b", signature="s2"))
    before = _dropped("shutdown")
    await idle.close()
    assert idle.qsize() == 0 and _dropped("shutdown") - before == 1
    assert not await Snipe.objects.filter(token_mint=waiting.mint).aexists()


async def test_a_launch_whose_mint_is_not_yet_confirmed_is_waited_for_and_bought(engine, localnet, transactional_db):
    """The notification comes at processed; the mint shows at confirmed two slots later. The sniper waits for it
    instead of calling the launch "not a token mint"."""
    trader = await _sniper_user(engine, localnet)
    localnet.knobs.launch_confirm_slots = 2
    try:
        with BlockClock(localnet.chain, seconds=0.05):
            token, outcomes = await _launch_and_handle(localnet, Sniper(engine, word=refusal))
    finally:
        localnet.knobs.launch_confirm_slots = 0
    assert [(o.telegram_user_id, o.status) for o in outcomes] == [(trader.id, "bought")], outcomes
    assert localnet.chain.token_balance(trader.wallet.public_key, token.mint) > 0


async def test_localnet_holds_a_launchs_mint_back_for_the_slots_the_knob_says(engine, localnet):
    localnet.knobs.launch_confirm_slots = 2
    try:
        token = localnet.launch_token(_symbol())
        assert await engine.rpc.mint_info(token.mint) is None
        localnet.chain.advance_blocks(1)
        assert await engine.rpc.mint_info(token.mint) is None
        localnet.chain.advance_blocks(1)
        assert (await engine.rpc.mint_info(token.mint)).decimals == token.decimals
    finally:
        localnet.knobs.launch_confirm_slots = 0
