"""Faults at the network edge, injected with localnet's knobs: every trade ends confirmed or cleanly failed."""

from __future__ import annotations

import asyncio

import pytest

from kernel.chain.rpc import RpcGateway
from kernel.metrics import RPC_REQUESTS
from positions.errors import ServiceUnavailable, TradeFailed
from positions.models import Position, Trade
from positions.reconcile import reconcile_pending
from positions.trading import Step
from telegrambot.texts import refusal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


class Crash(BaseException):
    """Stands for the process dying at a chosen step (raised from the progress hook, which the bot uses too)."""


def crash_at(step: Step):
    async def progress(reached: Step) -> None:
        if reached is step:
            raise Crash(step)
    return progress


def _requests(method: str) -> float:
    return RPC_REQUESTS.labels(method=method)._value.get()


async def test_rpc_429_on_reads_is_retried_and_counted(trader, localnet):
    before = _requests("getBalance")
    localnet.rpc.faults.fail_next(2, status=429, retry_after=0)
    result = await trader.buy("BONK", SOL // 10)
    assert result.received_raw > 0
    assert _requests("getBalance") >= before + 1


async def test_rpc_5xx_on_reads_is_retried(trader, localnet):
    localnet.rpc.faults.fail_next(2, status=503)
    assert (await trader.buy("BONK", SOL // 10)).received_raw > 0


async def test_rpc_timeouts_on_reads_are_retried(trader, localnet):
    impatient = RpcGateway(localnet.rpc_url, timeout=0.3, backoff=0.01)
    try:
        localnet.rpc.faults.hang_next(1, seconds=1.0)
        assert await impatient.sol_balance(trader.wallet.public_key) == trader.sol()
    finally:
        await impatient.close()


async def test_jupiter_5xx_fails_cleanly_before_anything_is_sent(trader, localnet):
    sol = trader.sol()
    localnet.jupiter.faults.fail_next(10, status=502)
    with pytest.raises(ServiceUnavailable) as caught:
        await trader.buy("BONK", SOL // 10)
    assert "swap service is unavailable" in refusal(caught.value)
    assert not await Trade.objects.filter(user=trader.wallet).aexists()
    assert trader.sol() == sol


async def test_a_transaction_that_never_lands_fails_after_expiry_with_funds_intact(trader, localnet):
    sol = trader.sol()
    localnet.chain.drop_next_transactions(1)

    async def let_blocks_pass():
        await asyncio.sleep(0.5)
        localnet.chain.advance_blocks(200)

    advancing = asyncio.create_task(let_blocks_pass())
    with pytest.raises(TradeFailed) as caught:
        await trader.buy("BONK", SOL // 10)
    await advancing
    assert "did not land before it expired" in refusal(caught.value)
    trade = await Trade.objects.aget(signature=caught.value.signature)
    assert trade.status == "failed"
    assert trader.sol() == sol and trader.tokens("BONK") == 0
    assert not await Position.objects.filter(user=trader.wallet).aexists()


async def test_crash_between_send_and_confirm_is_applied_once_by_reconcile(trader, localnet, engine):
    with pytest.raises(Crash):
        await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token("BONK").mint, lamports=SOL // 10,
                                 progress=crash_at(Step.CONFIRMING))
    trade = await Trade.objects.aget(user=trader.wallet)
    assert trade.status == "pending"
    told = []

    async def tell(settled):
        told.append(settled)

    first = await reconcile_pending(engine.rpc, notify=tell)
    assert first.confirmed == 1
    assert [(s.telegram_user_id, s.kind, s.confirmed, s.signature) for s in told] == [
        (trader.id, "buy", True, trade.signature)]  # the trader learns how it ended
    position = await Position.objects.aget(user=trader.wallet, is_open=True)
    assert position.remaining_amount_raw == trader.tokens("BONK") > 0
    second = await reconcile_pending(engine.rpc, notify=tell)
    assert (second.confirmed, second.failed, second.expired) == (0, 0, 0) and len(told) == 1
    assert (await Position.objects.aget(pk=position.pk)).remaining_amount_raw == position.remaining_amount_raw


async def test_a_trade_whose_details_cannot_be_read_yet_does_not_stop_the_pass(trader, localnet, engine):
    """Two orphans; the node fails every getTransaction of the first pass (after retries): both stay pending, the
    pass ends normally, and the next pass applies both, once."""
    for symbol in ("BONK", "WIF"):
        with pytest.raises(Crash):
            await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token(symbol).mint,
                                     lamports=SOL // 10, progress=crash_at(Step.CONFIRMING))
    localnet.rpc.faults.fail_next(100, status=503, only="getTransaction")
    try:
        first = await reconcile_pending(engine.rpc)
    finally:
        localnet.rpc.faults.clear()
    assert (first.confirmed, first.still_pending) == (0, 2)
    second = await reconcile_pending(engine.rpc)
    assert second.confirmed == 2
    assert await Position.objects.filter(user=trader.wallet, is_open=True).acount() == 2


async def test_crash_after_signing_before_send_expires_with_nothing_moved(trader, localnet, engine):
    sol = trader.sol()
    with pytest.raises(Crash):
        await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token("BONK").mint, lamports=SOL // 10,
                                 progress=crash_at(Step.SENDING))
    assert (await Trade.objects.aget(user=trader.wallet)).status == "pending"
    assert (await reconcile_pending(engine.rpc)).still_pending == 1  # its blockhash is still valid: wait
    localnet.chain.advance_blocks(200)
    told = []

    async def tell(settled):
        told.append(settled)

    assert (await reconcile_pending(engine.rpc, notify=tell)).expired == 1
    assert (await Trade.objects.aget(user=trader.wallet)).status == "failed"
    assert [(s.kind, s.confirmed) for s in told] == [("buy", False)]
    assert trader.sol() == sol


async def test_crash_during_a_sell_keeps_the_reservation_until_reconciled(trader, localnet, engine):
    from positions.amounts import SellAmount

    await trader.buy("WIF", SOL // 2)
    with pytest.raises(Crash):
        await engine.execute_sell(telegram_user_id=trader.id, mint=localnet.token("WIF").mint,
                                  amount=SellAmount.all(), progress=crash_at(Step.CONFIRMING))
    position = await Position.objects.aget(user=trader.wallet)
    assert position.reserved_raw == position.remaining_amount_raw  # nobody can sell it twice meanwhile
    assert (await reconcile_pending(engine.rpc)).confirmed == 1
    position = await Position.objects.aget(pk=position.pk)
    assert not position.is_open and position.reserved_raw == 0 and trader.tokens("WIF") == 0


async def test_a_restart_resends_an_orphan_that_never_went_out_and_it_lands_once(trader, localnet, engine):
    """The bot died between writing the pending row and sending. Its successor, starting up, sends the same signed
    bytes until they land: the trade the trader asked for happens (within its slippage), applied once."""
    with pytest.raises(Crash):
        await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token("BONK").mint, lamports=SOL // 10,
                                 progress=crash_at(Step.SENDING))
    trade = await Trade.objects.aget(user=trader.wallet)
    assert trade.status == "pending" and localnet.chain.status(trade.signature) is None
    told = []

    async def tell(settled):
        told.append(settled)

    report = await reconcile_pending(engine.rpc, notify=tell, resume=True)
    assert (report.confirmed, report.still_pending) == (1, 0)
    assert [(s.signature, s.confirmed) for s in told] == [(trade.signature, True)]
    position = await Position.objects.aget(user=trader.wallet, is_open=True)
    assert position.remaining_amount_raw == trader.tokens("BONK") > 0
    assert (await reconcile_pending(engine.rpc, resume=True)).confirmed == 0  # nothing twice


async def test_a_restart_resends_an_orphan_whose_first_send_was_dropped(trader, localnet, engine):
    localnet.chain.set_drop_rate(1.0)  # its first send is lost (as a congested leader loses one), then it dies
    try:
        with pytest.raises(Crash):
            await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token("WIF").mint,
                                     lamports=SOL // 10, progress=crash_at(Step.CONFIRMING))
    finally:
        localnet.chain.set_drop_rate(0)
    trade = await Trade.objects.aget(user=trader.wallet)
    assert localnet.chain.status(trade.signature) is None
    assert (await reconcile_pending(engine.rpc, resume=True)).confirmed == 1
    assert trader.tokens("WIF") > 0


async def test_a_protected_orphan_is_never_resent_to_a_public_node(trader, localnet, engine):
    from django.db.models import F

    from custody.services import update_setting
    from kernel.db import db_call

    await db_call(update_setting)(telegram_user_id=trader.id, key="mev_protection", value=True)
    with pytest.raises(Crash):
        await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token("JUP").mint, lamports=SOL // 10,
                                 progress=crash_at(Step.SENDING))
    public_sends = localnet.rpc.requests["sendTransaction"]
    report = await reconcile_pending(engine.rpc, resume=True, tip_accounts=await engine.known_tip_accounts())
    assert report.still_pending == 1 and localnet.rpc.requests["sendTransaction"] == public_sends
    await Trade.objects.filter(user=trader.wallet).aupdate(last_valid_block_height=F("last_valid_block_height") * 0)
    assert (await reconcile_pending(engine.rpc, resume=True)).expired == 1  # it expires, nothing moved


async def test_with_the_block_engine_unreadable_no_orphan_is_resent(trader, localnet, engine):
    """A restart that cannot read the block engine's tip accounts cannot tell a protected orphan from a public one:
    it resends none (before, a protected one read as public and went to the public nodes)."""
    from custody.services import update_setting
    from kernel.chain.jito import BlockEngineClient
    from kernel.db import db_call
    from positions.trading import TradingService

    await db_call(update_setting)(telegram_user_id=trader.id, key="mev_protection", value=True)
    with pytest.raises(Crash):
        await engine.execute_buy(telegram_user_id=trader.id, mint=localnet.token("JUP").mint, lamports=SOL // 10,
                                 progress=crash_at(Step.SENDING))
    unreachable = BlockEngineClient("http://127.0.0.1:9")
    restarted = TradingService(rpc=engine.rpc, jupiter=engine.jupiter, keyring=engine.keyring, config=engine.config,
                               block_engine=unreachable)
    try:
        tips = await restarted.known_tip_accounts()
    finally:
        await unreachable.close()
    assert tips is None
    public_sends = localnet.rpc.requests["sendTransaction"]
    report = await reconcile_pending(engine.rpc, resume=True, tip_accounts=tips)
    assert report.still_pending == 1 and localnet.rpc.requests["sendTransaction"] == public_sends
