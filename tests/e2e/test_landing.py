"""Landing when sends are dropped, as congested leaders drop them on mainnet: the bot resends the same bytes until
the transaction lands or its blockhash expires. Real localnet, blocks advancing on their own, sends dropped at
random per attempt; the ledger stays exact (a resend never applies anything twice)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db.models import Sum
from django.utils import timezone

from custody.money_out import MoneyOut, WithdrawalScheduled
from custody.policy import set_threshold
from custody.withdrawals import WithdrawalResult
from kernel.chain.jupiter import JupiterClient
from kernel.chain.rpc import RpcGateway
from positions.errors import TradeFailed
from positions.models import Position, Trade
from positions.trading import Step, TradingService
from telegrambot.texts import refusal
from tests.e2e.conftest import FAST_RESEND, BlockClock, Trader, engine_resending_every, make_trader
from wallets.crypto import Keyring
from wallets.models import Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
BUYS, USERS = 20, 5


@pytest_asyncio.fixture
async def sending_once(trading_config):
    engine = await engine_resending_every(trading_config, rebroadcast_seconds=0)
    yield engine
    await engine.rpc.close()
    await engine.jupiter.close()
    await engine.block_engine.close()


async def _buy_under_drops(engine, localnet) -> tuple[int, int, list[Trader]]:
    """BUYS buys by USERS traders at once (each trader's in turn), half of all send attempts dropped.
    Returns (landed, failed as expired, traders)."""
    traders = [await make_trader(engine, localnet) for _ in range(USERS)]
    symbols = ("BONK", "WIF", "JUP", "NINE")
    landed = expired = 0

    async def buys(trader: Trader, offset: int) -> None:
        nonlocal landed, expired
        for index in range(BUYS // USERS):
            try:
                await trader.buy(symbols[(offset + index) % len(symbols)], SOL // 100 + 1000 * index)
                landed += 1
            except TradeFailed as failed:
                assert failed.reason is TradeFailed.Reason.EXPIRED, refusal(failed)
                expired += 1

    localnet.chain.set_drop_rate(0.5, seed=15)
    with BlockClock(localnet.chain):
        await asyncio.gather(*(buys(trader, offset) for offset, trader in enumerate(traders)))
    localnet.chain.set_drop_rate(0)
    return landed, expired, traders


async def _assert_ledger_is_the_chain(traders: list[Trader], localnet) -> None:
    """Every lamport and token unit the chain shows was recorded once: the ledger's flows explain the balances."""
    assert not await Trade.objects.filter(status="pending").aexists()
    for trader in traders:
        flows = await Trade.objects.filter(user=trader.wallet).aaggregate(total=Sum("sol_change_lamports"))
        assert trader.sol() == 10 * SOL + (flows["total"] or 0)
        async for position in Position.objects.filter(user=trader.wallet, is_open=True):
            assert localnet.chain.token_balance(trader.wallet.public_key, position.token_mint) == \
                position.remaining_amount_raw


async def test_with_half_the_sends_dropped_every_buy_lands_by_resending(resending, localnet):
    sends = localnet.rpc.requests["sendTransaction"]
    landed, expired, traders = await _buy_under_drops(resending, localnet)
    assert (landed, expired) == (BUYS, 0)
    assert localnet.rpc.requests["sendTransaction"] - sends > BUYS  # dropped attempts were made good by resends
    assert await Trade.objects.filter(status="confirmed", user__in=[t.wallet for t in traders]).acount() == BUYS
    await _assert_ledger_is_the_chain(traders, localnet)


async def test_sent_once_the_same_run_loses_buys(sending_once, localnet):
    """The comparison that shows resending matters: without it, a dropped send is a failed trade."""
    landed, expired, traders = await _buy_under_drops(sending_once, localnet)
    assert landed + expired == BUYS and expired > 0
    await _assert_ledger_is_the_chain(traders, localnet)


async def test_a_blackholed_transaction_is_resent_and_still_fails_after_expiry_with_nothing_moved(resending, localnet):
    trader = await make_trader(resending, localnet)
    sol, sends = trader.sol(), localnet.rpc.requests["sendTransaction"]
    localnet.chain.drop_next_transactions(1)  # accepted, never lands, whatever is resent
    with BlockClock(localnet.chain), pytest.raises(TradeFailed) as caught:
        await trader.buy("BONK", SOL // 10)
    assert caught.value.reason is TradeFailed.Reason.EXPIRED
    assert localnet.rpc.requests["sendTransaction"] - sends > 3  # it was resent, to no avail
    trade = await Trade.objects.aget(signature=caught.value.signature)
    assert trade.status == "failed"
    assert trader.sol() == sol and trader.tokens("BONK") == 0
    assert not await Position.objects.filter(user=trader.wallet).aexists()


async def test_resends_that_error_leave_the_trade_pending_until_a_later_one_lands(resending, localnet):
    """A resend refused (HTTP 503 here) is no news about the transaction: the trade is not failed for it."""
    trader = await make_trader(resending, localnet)
    localnet.chain.set_drop_rate(1.0)  # the first send is lost

    async def progress(step: Step) -> None:
        if step is Step.CONFIRMING:  # sent: the next three copies meet an outage, the one after lands
            localnet.rpc.faults.fail_next(3, status=503, only="sendTransaction")
            localnet.chain.set_drop_rate(0)

    sends = localnet.rpc.requests["sendTransaction"]
    with BlockClock(localnet.chain):
        result = await resending.execute_buy(telegram_user_id=trader.id, mint=localnet.token("WIF").mint,
                                             lamports=SOL // 10, progress=progress)
    assert localnet.rpc.requests["sendTransaction"] - sends == 5
    trade = await Trade.objects.aget(signature=result.signature)
    assert trade.status == "confirmed" and trader.tokens("WIF") == result.received_raw > 0
    await _assert_ledger_is_the_chain([trader], localnet)


def _money_out(engine) -> MoneyOut:
    return MoneyOut(rpc=engine.rpc, keyring=engine.keyring,
                    policy=replace(engine.config.custody, large_withdrawal_delay_seconds=7200))


async def test_an_immediate_withdrawal_lands_when_its_first_send_is_dropped(resending, localnet):
    trader = await make_trader(resending, localnet, sol=5)
    destination = str(localnet.funded_keypair(sol=1).pubkey())
    money_out, now = _money_out(resending), timezone.now()
    plan = await money_out.plan(trader.wallet, destination=destination, lamports=SOL, now=now, source="test")
    sends = localnet.rpc.requests["sendTransaction"]
    localnet.chain.set_drop_rate(0.5, seed=1)  # this seed's first draw drops, its second does not
    with BlockClock(localnet.chain):
        result = await money_out.withdraw(trader.wallet, plan, now=now, source="test")
    assert isinstance(result, WithdrawalResult)
    assert localnet.rpc.requests["sendTransaction"] - sends == 2
    assert localnet.chain.sol_balance(destination) == 2 * SOL
    assert trader.sol() == 5 * SOL - SOL - plan.fee_lamports
    withdrawal = await Withdrawal.objects.aget(user=trader.wallet)
    assert withdrawal.status == "confirmed" and withdrawal.signature == result.signature


async def test_a_delayed_withdrawal_lands_under_drops_when_its_time_comes(resending, localnet):
    trader = await make_trader(resending, localnet, sol=5)
    now = timezone.now()
    await sync_to_async(set_threshold)(trader.wallet, SOL, now=now, delay_seconds=0, source="test")
    destination = str(localnet.funded_keypair(sol=1).pubkey())
    money_out = _money_out(resending)
    plan = await money_out.plan(trader.wallet, destination=destination, lamports=2 * SOL, now=now, source="test")
    scheduled = await money_out.withdraw(trader.wallet, plan, now=now, source="test")
    assert isinstance(scheduled, WithdrawalScheduled)
    localnet.chain.set_drop_rate(0.5, seed=4)  # this seed drops the first six draws
    with BlockClock(localnet.chain):
        due = await money_out.send_due(scheduled.withdrawal.pk, now=now + timedelta(hours=3))
    assert due.result is not None and due.refusal is None
    assert localnet.chain.sol_balance(destination) == 3 * SOL
    assert trader.sol() == 5 * SOL - 2 * SOL - plan.fee_lamports
    assert (await Withdrawal.objects.aget(pk=scheduled.withdrawal.pk)).status == "confirmed"


async def _engine_sending_also_to(config, send_urls: list[str]):
    rpc = RpcGateway(config.solana_rpc_url, timeout=5.0, backoff=0.05, rebroadcast_seconds=FAST_RESEND,
                     send_urls=send_urls)
    jupiter = JupiterClient(config.jupiter_api_url, timeout=5.0, backoff=0.05)
    return TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)


async def test_every_copy_also_goes_to_the_other_endpoints_and_each_buy_lands_once(trading_config, localnet,
                                                                                    transactional_db):
    """A second node (SOLANA_SEND_URLS) gets every copy once the first passed preflight: two chances a round."""
    engine = await _engine_sending_also_to(trading_config, [localnet.lagging_rpc_url])
    before = localnet.lagging_rpc.requests["sendTransaction"]
    try:
        landed, expired, traders = await _buy_under_drops(engine, localnet)
    finally:
        await engine.rpc.close()
        await engine.jupiter.close()
    assert (landed, expired) == (BUYS, 0)
    assert localnet.lagging_rpc.requests["sendTransaction"] - before >= BUYS  # each buy reached it at least once
    await _assert_ledger_is_the_chain(traders, localnet)


async def test_an_endpoint_that_is_down_never_fails_a_trade(trading_config, localnet, transactional_db):
    engine = await _engine_sending_also_to(trading_config, ["http://127.0.0.1:9"])  # nothing listens there
    try:
        trader = await make_trader(engine, localnet)
        result = await trader.buy("BONK", SOL // 10)
    finally:
        await engine.rpc.close()
        await engine.jupiter.close()
    assert result.signature and trader.tokens("BONK") > 0
    await _assert_ledger_is_the_chain([trader], localnet)


async def test_a_primary_node_some_slots_behind_still_lands_every_trade(trading_config, localnet, transactional_db):
    """The bot's own node lags the one Jupiter built the swap on: the swap's blockhash is newer than anything the
    node has seen, so its simulation and its preflight would say "Blockhash not found". Neither may fail a good
    trade: the inspector simulates on the node's own recent blockhash, and a send the node cannot preflight for
    want of the blockhash goes out unchecked, the inspector's simulation having judged it."""
    lagging = replace(trading_config, solana_rpc_url=localnet.lagging_rpc_url)
    engine = await engine_resending_every(lagging, rebroadcast_seconds=FAST_RESEND)
    localnet.knobs.lag_slots = 3
    try:
        with BlockClock(localnet.chain):
            trader = await make_trader(engine, localnet)
            bought = await trader.buy("WIF", SOL // 10)
            await _until_the_node_sees(engine, trader, "WIF", bought.received_raw)
            sold = await trader.sell("WIF", "all")
    finally:
        localnet.knobs.lag_slots = 0
        await engine.rpc.close()
        await engine.jupiter.close()
    assert bought.received_raw > 0 and sold.position_closed
    assert trader.tokens("WIF") == 0
    await _assert_ledger_is_the_chain([trader], localnet)


async def _until_the_node_sees(engine, trader: Trader, symbol: str, raw: int) -> None:
    """A lagging node shows a landed buy some slots later; a sell of it must wait that long (as a person would)."""
    mint = trader.localnet.token(symbol).mint
    for _ in range(200):
        if (await engine.rpc.holdings(trader.wallet.public_key)).token_amount(mint) == raw:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the lagging node never showed the buy")


async def test_reads_and_sends_move_to_the_next_full_node_when_the_primary_is_down(trading_config, localnet,
                                                                                    transactional_db):
    """SOLANA_RPC_URLS: the primary does not answer at all; every read moves on to the next node, and the trade
    lands there. The dead node is then asked last, so later reads do not wait for it each time."""
    nodes = replace(trading_config, solana_rpc_url="http://127.0.0.1:9", solana_fallback_urls=(localnet.rpc_url,))
    rpc = RpcGateway(nodes.solana_rpc_url, timeout=5.0, backoff=0.01, rebroadcast_seconds=FAST_RESEND,
                     fallback_urls=nodes.solana_fallback_urls)
    jupiter = JupiterClient(nodes.jupiter_api_url, timeout=5.0, backoff=0.05)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(nodes.wallet_encryption_keys), config=nodes)
    try:
        trader = await make_trader(engine, localnet)
        before = localnet.rpc.requests["getBalance"]
        result = await trader.buy("JUP", SOL // 10)
        balances = [await rpc.sol_balance(trader.wallet.public_key) for _ in range(3)]
    finally:
        await rpc.close()
        await jupiter.close()
    assert result.received_raw > 0 and balances == [trader.sol()] * 3
    assert localnet.rpc.requests["getBalance"] - before >= 3
    await _assert_ledger_is_the_chain([trader], localnet)


async def test_a_primary_node_that_is_behind_hands_reads_to_a_caught_up_one(trading_config, localnet,
                                                                            transactional_db):
    """The primary answers every read with -32005 "node is behind"; reads go to the fallback instead."""
    rpc = RpcGateway(localnet.lagging_rpc_url, timeout=5.0, backoff=0.01, rebroadcast_seconds=FAST_RESEND,
                     fallback_urls=(localnet.rpc_url,))
    localnet.knobs.lag_slots, localnet.knobs.lag_error_rate = 2, 1.0
    try:
        height = await rpc.block_height()
        assert height == localnet.chain.block_height  # the caught-up node's, not the lagging one's (2 fewer)
        benched_reads = localnet.lagging_rpc.requests["getBlockHeight"]
        assert [await rpc.block_height() >= height for _ in range(5)] == [True] * 5
        assert localnet.lagging_rpc.requests["getBlockHeight"] == benched_reads  # asked last while benched
    finally:
        localnet.knobs.lag_slots, localnet.knobs.lag_error_rate = 0, 0.0
        await rpc.close()


async def test_a_withdrawal_signed_and_recorded_by_a_process_that_died_is_sent_by_the_next(resending, localnet):
    """The process died right after writing the withdrawal as pending (signed) and before sending it. The next one,
    starting up, sends the same bytes until they land, and the trader is told."""
    from custody.withdrawals import commit_withdrawal, request_withdrawal
    from kernel.db import db_call
    from positions.reconcile import reconcile_pending

    trader = await make_trader(resending, localnet, sol=5)
    destination = str(localnet.funded_keypair(sol=1).pubkey())
    money_out, now = _money_out(resending), timezone.now()
    plan = await money_out.plan(trader.wallet, destination=destination, lamports=SOL, now=now, source="test")
    row = await request_withdrawal(wallet=trader.wallet, plan=plan, source="test")
    blockhash, last_valid = await resending.rpc.latest_blockhash()
    withdrawal, signed, _ = await db_call(commit_withdrawal)(trader.wallet, row.pk, plan, blockhash, last_valid,
                                                            resending.keyring, now, 0, "test")
    assert signed is not None and withdrawal.status == "pending"  # ... and here the process died
    told = []

    async def tell(settled):
        told.append(settled)

    localnet.chain.set_drop_rate(0.5, seed=1)  # the first copy is dropped, as congested leaders drop them
    with BlockClock(localnet.chain):
        report = await reconcile_pending(resending.rpc, notify=tell, resume=True)
    assert report.confirmed == 1 and [(s.kind, s.confirmed) for s in told] == [("withdrawal", True)]
    assert localnet.chain.sol_balance(destination) == 2 * SOL
    assert (await Withdrawal.objects.aget(pk=row.pk)).status == "confirmed"
