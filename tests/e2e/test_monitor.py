"""Stop loss and take profit against localnet: prices moved by other traders' real swaps."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from positions.models import Position, Trade
from positions.monitor import Monitor, Rule
from telegrambot.texts import refusal
from tests.e2e.conftest import dump, fresh_token, make_trader, pump
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


async def _set(trader, **fields) -> None:
    await UserSettings.objects.filter(user=trader.wallet).aupdate(**fields)


async def _buy(trader, token, lamports=SOL // 2):
    return await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=lamports)


async def test_stop_loss_sells_once_and_tells_the_user(engine, localnet, trader):
    told = []
    monitor = Monitor(engine, notify=lambda trigger: _collect(told, trigger))
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, stop_loss_percentage=Decimal(20))
    assert (await monitor.run_cycle()).triggers == []  # nothing has moved yet
    dump(localnet, token)
    report = await monitor.run_cycle()
    assert [t.rule for t in report.triggers] == [Rule.STOP_LOSS]
    assert told and told[0].result.position_closed and told[0].result.realized_pnl_lamports < 0
    assert localnet.chain.token_balance(trader.wallet.public_key, token.mint) == 0
    assert (await monitor.run_cycle()).triggers == []
    assert await Trade.objects.filter(user=trader.wallet, side="sell").acount() == 1


async def test_take_profit_sells_once(engine, localnet, trader):
    monitor = Monitor(engine)
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, take_profit_percentage=Decimal(50))
    pump(localnet, token)
    report = await monitor.run_cycle()
    assert [t.rule for t in report.triggers] == [Rule.TAKE_PROFIT]
    assert report.triggers[0].result.realized_pnl_lamports > 0
    assert (await monitor.run_cycle()).triggers == []


async def test_a_position_override_beats_the_users_setting(engine, localnet, trader):
    monitor = Monitor(engine)
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, stop_loss_percentage=Decimal(90))
    await Position.objects.filter(user=trader.wallet, token_mint=token.mint).aupdate(
        stop_loss_percentage=Decimal(10))
    dump(localnet, token)
    assert [t.rule for t in (await monitor.run_cycle()).triggers] == [Rule.STOP_LOSS]


async def test_a_position_with_no_thresholds_is_never_sold(engine, localnet, trader):
    monitor = Monitor(engine)
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, stop_loss_percentage=None, take_profit_percentage=None)
    dump(localnet, token, fraction_of_pool=5)
    report = await monitor.run_cycle()
    assert report.triggers == [] and report.positions == 0
    assert await Position.objects.filter(user=trader.wallet, is_open=True).aexists()


async def test_fifty_positions_crossing_at_once_with_two_monitors_are_each_sold_once(engine, localnet,
                                                                                     transactional_db):
    tokens = [fresh_token(localnet) for _ in range(5)]
    traders = [await make_trader(engine, localnet, sol=10) for _ in range(10)]
    for trader in traders:
        await _set(trader, stop_loss_percentage=Decimal(30))
        for token in tokens:
            await _buy(trader, token, lamports=SOL // 10)
    for token in tokens:
        dump(localnet, token)
    first, second = Monitor(engine), Monitor(engine)
    reports = await asyncio.gather(first.run_cycle(), second.run_cycle())
    fired = [t for report in reports for t in report.triggers]
    assert [t.error for t in fired if t.error] == []
    assert len(fired) == 50
    assert len({t.watched.position_id for t in fired}) == 50
    assert await Trade.objects.filter(side="sell", user__in=[t.wallet for t in traders]).acount() == 50
    assert not await Position.objects.filter(user__in=[t.wallet for t in traders], is_open=True).aexists()
    assert reports[0].price_requests == 1  # 5 mints (and any other open positions) in one batch


async def test_on_postgres_a_second_process_holding_the_lock_makes_a_cycle_skip(engine, postgres_only):
    import psycopg
    from django.db import connection

    from positions.monitor import ADVISORY_LOCK_KEY

    params = connection.get_connection_params()
    with psycopg.connect(dbname=params["dbname"], user=params.get("user"), host=params.get("host"),
                         port=params.get("port"), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        assert (await Monitor(engine).run_cycle()).ran is False
        # Release explicitly: closing the connection frees the lock only once the server has ended that session,
        # which can lag the client's close on a busy machine.
        other.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    assert (await Monitor(engine).run_cycle()).ran is True


async def test_the_bot_runs_the_monitor_and_tells_the_user(bot, chat_factory, localnet):
    chat = chat_factory()
    await chat.say("/start")
    wallet_key = (await UserSettings.objects.select_related("user").aget(user__telegram_user_id=chat.user_id)
                  ).user.public_key
    localnet.chain.airdrop(wallet_key, 5 * SOL)
    token = fresh_token(localnet)
    await chat.final(await chat.say(f"/buy {token.mint} 0.5"))
    await chat.say("/set stoploss 25")
    await chat.telegram.next_reply(chat.user_id)  # the settings view
    dump(localnet, token)
    told = await chat.telegram.wait_for(chat.user_id, lambda r: "Stop loss" in r["text"], timeout=20)
    assert "Sold" in told["text"] and "Position closed" in told["text"]


async def _collect(into: list, trigger) -> None:
    into.append(trigger)


async def test_a_failing_stop_loss_sale_is_told_once_and_retried_later_not_every_cycle(engine, localnet, trader):
    told = []
    monitor = Monitor(engine, notify=lambda trigger: _collect(told, trigger))
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, stop_loss_percentage=Decimal(20))
    dump(localnet, token)
    localnet.chain.drop_next_transactions(1)  # the sale is sent but never lands

    async def let_blocks_pass():
        await asyncio.sleep(0.5)
        localnet.chain.advance_blocks(200)

    advancing = asyncio.create_task(let_blocks_pass())
    first = await monitor.run_cycle()
    await advancing
    assert len(first.triggers) == 1 and first.triggers[0].error and "did not land" in refusal(first.triggers[0].error)
    assert len(told) == 1
    second = await monitor.run_cycle()
    assert second.triggers == [] and len(told) == 1  # resting: not retried (nor announced) every cycle
    position = await Position.objects.aget(user=trader.wallet, token_mint=token.mint)
    assert position.is_open and position.reserved_raw == 0


async def test_while_sells_are_paused_a_crossing_is_told_once_and_nothing_is_sold(engine, localnet, trader):
    from asgiref.sync import sync_to_async
    from django.core.management import call_command

    told = []
    monitor = Monitor(engine, notify=lambda trigger: _collect(told, trigger), retry_after_seconds=0)
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, stop_loss_percentage=Decimal(20))
    dump(localnet, token)
    await sync_to_async(call_command)("killswitch", "on", "sells", "--user", str(trader.id))
    for _ in range(3):  # retried every cycle here (no rest), announced once
        await monitor.run_cycle()
    assert len(told) == 1 and "paused" in refusal(told[0].error)
    assert not await Trade.objects.filter(user=trader.wallet, side="sell").aexists()
    await sync_to_async(call_command)("killswitch", "off", "sells", "--user", str(trader.id))
    resumed = await monitor.run_cycle()
    assert len(resumed.triggers) == 1 and resumed.triggers[0].result is not None
    assert not (await Position.objects.aget(user=trader.wallet, token_mint=token.mint)).is_open


async def test_a_position_whose_stop_loss_is_off_is_not_sold_by_the_users_default(engine, localnet, trader):
    from positions.services import set_position_threshold
    from telegrambot.parsing import parse_position_threshold

    monitor = Monitor(engine)
    token = fresh_token(localnet)
    await _buy(trader, token)
    await _set(trader, stop_loss_percentage=Decimal(20))
    off = parse_position_threshold("off", name="Stop loss", high=Decimal(99))
    await sync_to_async(set_position_threshold)(telegram_user_id=trader.id, mint=token.mint,
                                                field="stop_loss_percentage", value=off)
    dump(localnet, token)
    report = await monitor.run_cycle()
    assert report.triggers == [] and report.positions == 0
    default = parse_position_threshold("default", name="Stop loss", high=Decimal(99))
    await sync_to_async(set_position_threshold)(telegram_user_id=trader.id, mint=token.mint,
                                                field="stop_loss_percentage", value=default)
    assert [t.rule for t in (await monitor.run_cycle()).triggers] == [Rule.STOP_LOSS]
