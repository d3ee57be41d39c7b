"""Paper trading against localnet: every paper trade is quoted by the swap API and built and checked like a real
one, then filled at the quote in the paper book; nothing is ever signed or sent, the real wallet never moves, and
paper rows stay out of every real figure. The same end-to-end cases as real trading: buy, partial sell, stop loss
and take profit firing, orders."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from kernel.chain.jupiter import JupiterClient
from kernel.chain.rpc import RpcGateway
from kernel.config import load_config
from positions import paper
from positions.amounts import SellAmount
from positions.errors import NoOpenPosition, PaperBalanceTooLow, RealTradingOff
from positions.models import Order, PaperAccount, Position, Trade
from positions.monitor import Monitor, Rule
from positions.order_placing import TriggerKind, TriggerSpec, place_dca, place_limit_buy, place_limit_sell
from positions.orders import OrderEngine
from positions.reconcile import audit_wallets
from positions.stats import bot_counts, daily_stats, open_positions_count
from positions.trading import SIGNATURE_FEE_LAMPORTS, TradingService
from tests.e2e.conftest import dump, fresh_token, make_trader, pump
from tests.settings import TEST_WALLET_KEY
from wallets import signing
from wallets.crypto import Keyring
from wallets.models import UserSettings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.parametrize("swap_compose", ["true", "false"])]
SOL = 10**9
START = 10 * SOL  # PAPER_START_SOL's default


class NothingSigned:
    """Watches, without changing anything, every call of the two functions through which a key is decrypted and a
    transaction signed (``sys.setprofile`` on the event loop's thread, where the engine signs), and counts every
    send any endpoint received: the public nodes' ``sendTransaction`` and the block engine's bundles and sends."""

    WATCHED = {signing._open.__code__, signing.sign_versioned_transaction.__code__}

    def __init__(self, localnet) -> None:
        self.localnet = localnet
        self.signed: list[str] = []

    def sends(self) -> int:
        nodes = (self.localnet.rpc, self.localnet.lagging_rpc)
        return (sum(node.requests["sendTransaction"] + node.requests["batch"] for node in nodes)
                + self.localnet.block_engine.requests["sendBundle"]
                + self.localnet.block_engine.requests["sendTransaction"])

    def _profile(self, frame, event, arg) -> None:
        if event == "call" and frame.f_code in self.WATCHED:
            self.signed.append(frame.f_code.co_name)

    def __enter__(self) -> NothingSigned:
        self._sends_before = self.sends()
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous)
        self.sent = self.sends() - self._sends_before


async def _on_paper(trader) -> None:
    await sync_to_async(paper.set_mode)(telegram_user_id=trader.id, paper=True, config=trader.engine.config)


async def _book(trader) -> PaperAccount:
    return await PaperAccount.objects.aget(user=trader.wallet)


async def _book_matches_ledger(trader) -> None:
    """The paper book is its start plus the SOL change of every paper trade: nothing else moves it."""
    book = await _book(trader)
    flow = sum([t.sol_change_lamports async for t in Trade.objects.filter(user=trader.wallet, paper=True,
                                                                           status="confirmed")])
    assert book.balance_lamports == book.start_lamports + flow


async def test_a_paper_buy_is_filled_at_the_quote_and_never_signed_or_sent(engine, localnet, trader):
    await _on_paper(trader)
    token = fresh_token(localnet)
    sol_before = trader.sol()
    quote = await engine.jupiter.quote(input_mint=localnet.sol_mint, output_mint=token.mint, amount=SOL // 10,
                                       slippage_bps=100)
    with NothingSigned(localnet) as watch:
        result = await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    assert watch.signed == [] and watch.sent == 0
    assert result.paper and result.signature.startswith(paper.SIGNATURE_PREFIX)
    assert result.received_raw == quote.out_amount  # the pool has not moved: the quote is what a real buy gets
    assert result.fee_lamports == SIGNATURE_FEE_LAMPORTS + 1000  # the signature fee and the trader's priority fee
    assert result.rent_paid_lamports == localnet.chain.rent_exempt(165)
    assert result.simulated  # the real wallet could pay for the real swap: it was simulated as well
    assert trader.sol() == sol_before and localnet.chain.token_balance(trader.wallet.public_key, token.mint) == 0
    trade = await Trade.objects.aget(signature=result.signature)
    assert trade.paper and trade.status == "confirmed" and trade.signed_transaction is None
    position = await Position.objects.aget(pk=result.position_id)
    assert position.paper and position.remaining_amount_raw == result.received_raw
    assert position.remaining_cost_lamports == SOL // 10 + result.fee_lamports
    book = await _book(trader)
    assert book.balance_lamports == START - SOL // 10 - result.fee_lamports - result.rent_paid_lamports
    await _book_matches_ledger(trader)


async def test_a_paper_partial_sell_then_all_realizes_pnl_and_returns_the_rent(engine, localnet, trader,
                                                                                swap_compose):
    await _on_paper(trader)
    token = fresh_token(localnet)
    bought = await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    with NothingSigned(localnet) as watch:
        half = await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint,
                                                amount=SellAmount.parse("50%"))
        position = await Position.objects.aget(pk=bought.position_id)
        assert position.is_open and position.remaining_amount_raw == bought.received_raw - bought.received_raw // 2
        assert not half.position_closed and half.lamports_out > 0 and half.rent_returned_lamports == 0
        rest = await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all())
    assert watch.signed == [] and watch.sent == 0
    assert rest.paper and rest.position_closed
    closed = await Position.objects.aget(pk=bought.position_id)
    assert not closed.is_open
    assert closed.realized_pnl_lamports == half.realized_pnl_lamports + rest.realized_pnl_lamports
    composed = swap_compose == "true"
    assert rest.rent_returned_lamports == (bought.rent_paid_lamports if composed else 0)
    await _book_matches_ledger(trader)
    book = await _book(trader)
    # Round trip: what came back, against what went in (the pool's fee and two sells' fees are the loss).
    assert book.balance_lamports == (START + closed.realized_pnl_lamports
                                     - (0 if composed else bought.rent_paid_lamports))
    assert localnet.chain.token_balance(trader.wallet.public_key, token.mint) == 0


async def test_paper_and_real_positions_in_one_mint_stay_apart_and_reconciliation_sees_only_real(engine, localnet,
                                                                                                  trader):
    token = fresh_token(localnet)
    real = await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    await _on_paper(trader)
    on_paper = await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 5)
    assert real.position_id != on_paper.position_id
    assert await audit_wallets(engine.rpc) == []  # the chain explains every real row, and nothing paper is asked
    # The trader is on paper: a sale without a book named sells the paper position; the real one stays.
    await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all())
    assert (await Position.objects.aget(pk=real.position_id)).is_open
    assert localnet.chain.token_balance(trader.wallet.public_key, token.mint) == real.received_raw
    # A sale named real (a stop loss on the real position) sells the real one, on chain.
    sold = await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all(),
                                            paper=False)
    assert not sold.paper and localnet.chain.token_balance(trader.wallet.public_key, token.mint) == 0
    assert await audit_wallets(engine.rpc) == []
    with pytest.raises(NoOpenPosition):
        await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all())


async def test_a_paper_buy_beyond_the_paper_balance_is_refused_and_changes_nothing(engine, localnet, trader):
    await _on_paper(trader)
    await PaperAccount.objects.filter(user=trader.wallet).aupdate(balance_lamports=SOL // 10)
    token = fresh_token(localnet)
    with pytest.raises(PaperBalanceTooLow) as refused:
        await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    assert refused.value.available == SOL // 10 and refused.value.needed > SOL // 10
    assert (await _book(trader)).balance_lamports == SOL // 10
    assert not await Trade.objects.filter(user=trader.wallet).aexists()


async def test_paper_needs_no_real_sol_and_is_not_simulated_when_the_wallet_could_not_pay(engine, localnet,
                                                                                          transactional_db):
    empty = await make_trader(engine, localnet, sol=0)
    await _on_paper(empty)
    token = fresh_token(localnet)
    with NothingSigned(localnet) as watch:
        result = await empty.engine.execute_buy(telegram_user_id=empty.id, mint=token.mint, lamports=SOL)
        sold = await empty.engine.execute_sell(telegram_user_id=empty.id, mint=token.mint, amount=SellAmount.all())
    assert watch.signed == [] and watch.sent == 0
    assert result.paper and not result.simulated and sold.position_closed and not sold.simulated
    assert empty.sol() == 0


async def test_paper_limits_count_paper_trades_only(engine, localnet, trader):
    """The paper book has the trader's limits, counted over its own trades: a day of paper losses never blocks a
    real buy, nor real spending a paper one."""
    await UserSettings.objects.filter(user=trader.wallet).aupdate(daily_spend_limit_lamports=SOL // 2)
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    await _on_paper(trader)
    result = await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    assert result.paper


async def test_stop_loss_and_take_profit_fire_on_paper_positions_as_on_real_ones(engine, localnet, trader):
    told = []

    async def tell(trigger) -> None:
        told.append(trigger)

    monitor = Monitor(engine, notify=tell)
    await _on_paper(trader)
    falling, rising = fresh_token(localnet), fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=falling.mint, lamports=SOL // 2)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=rising.mint, lamports=SOL // 2)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(stop_loss_percentage=Decimal(20),
                                                                  take_profit_percentage=Decimal(50))
    with NothingSigned(localnet) as watch:
        assert (await monitor.run_cycle()).triggers == []
        dump(localnet, falling)
        pump(localnet, rising)
        report = await monitor.run_cycle()
        assert sorted(t.rule.value for t in report.triggers) == sorted([Rule.STOP_LOSS.value, Rule.TAKE_PROFIT.value])
        assert (await monitor.run_cycle()).triggers == []  # each fires once
    assert watch.signed == [] and watch.sent == 0
    by_rule = {t.rule: t.result for t in told}
    assert by_rule[Rule.STOP_LOSS].paper and by_rule[Rule.STOP_LOSS].realized_pnl_lamports < 0
    assert by_rule[Rule.TAKE_PROFIT].paper and by_rule[Rule.TAKE_PROFIT].realized_pnl_lamports > 0
    assert not await Position.objects.filter(user=trader.wallet, is_open=True).aexists()
    await _book_matches_ledger(trader)


async def test_a_real_positions_stop_loss_still_sells_for_real_while_the_trader_is_on_paper(engine, localnet,
                                                                                           trader):
    monitor = Monitor(engine)
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    await _on_paper(trader)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(stop_loss_percentage=Decimal(20))
    dump(localnet, token)
    report = await monitor.run_cycle()
    assert [t.rule for t in report.triggers] == [Rule.STOP_LOSS] and not report.triggers[0].result.paper
    assert localnet.chain.token_balance(trader.wallet.public_key, token.mint) == 0


async def test_paper_orders_fire_paper_trades_once(engine, localnet, trader):
    told: list = []

    async def tell(event) -> None:
        told.append(event)

    monitor = Monitor(engine, orders=OrderEngine(engine, notify=tell, retry_base_seconds=0))
    await _on_paper(trader)
    ladder, dip, parts = fresh_token(localnet), fresh_token(localnet), fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=ladder.mint, lamports=SOL // 2)
    sell = await place_limit_sell(engine, telegram_user_id=trader.id, mint=ladder.mint,
                                  amount=SellAmount.parse("50%"),
                                  trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal(2), "2x"), expires_in=None,
                                  now=timezone.now())
    buy = await place_limit_buy(engine, telegram_user_id=trader.id, mint=dip.mint, lamports=SOL // 10,
                                trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                now=timezone.now())
    dca = await place_dca(engine, telegram_user_id=trader.id, mint=parts.mint, lamports=SOL // 10, parts=2,
                          interval_seconds=3600, now=timezone.now())
    assert sell.paper and buy.paper and dca.paper
    with NothingSigned(localnet) as watch:
        first = await monitor.run_cycle()
        assert [e.order.kind for e in first.order_events] == ["dca_buy"]  # the first part is due at once
        pump(localnet, ladder)
        dump(localnet, dip)
        events = (await monitor.run_cycle()).order_events
        assert sorted(e.order.kind for e in events) == ["limit_buy", "limit_sell"]
        assert (await monitor.run_cycle()).order_events == []
    assert watch.signed == [] and watch.sent == 0
    assert len(told) == 3 and all(event.result.paper for event in told)
    for order in (sell, buy):
        assert (await Order.objects.aget(pk=order.pk)).status == "filled"
    fired = Trade.objects.filter(user=trader.wallet, order_firing__isnull=False)
    assert await fired.acount() == 3 and not await fired.filter(paper=False).aexists()
    await _book_matches_ledger(trader)


async def test_on_a_paper_only_bot_every_trade_is_paper_and_a_real_one_is_refused(localnet, swap_compose,
                                                                                   transactional_db):
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "SOLANA_WS_URL": localnet.ws_url, "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY,
                          "PAPER_TRADING": "true", "PAPER_START_SOL": "2", "SWAP_COMPOSE": swap_compose})
    rpc, jupiter = RpcGateway(config.solana_rpc_url, timeout=5.0), JupiterClient(config.jupiter_api_url, timeout=5.0)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    try:
        trader = await make_trader(engine, localnet)
        token = fresh_token(localnet)
        with NothingSigned(localnet) as watch:
            result = await engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
            with pytest.raises(RealTradingOff):
                await engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10, paper=False)
        assert watch.signed == [] and watch.sent == 0
        assert result.paper and (await _book(trader)).start_lamports == 2 * SOL
    finally:
        await rpc.close()
        await jupiter.close()


async def test_paper_rows_stay_out_of_real_figures(engine, localnet, trader):
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    await _on_paper(trader)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 5)
    await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.parse("50%"))
    today = timezone.now().date()
    real = (await sync_to_async(daily_stats)(end=today, days=1))[-1]
    on_paper = (await sync_to_async(daily_stats)(end=today, days=1, paper=True))[-1]
    assert (real.trades, real.volume_lamports) == (1, SOL // 10)
    assert on_paper.trades == 2 and on_paper.volume_lamports > SOL // 5
    counts = await sync_to_async(bot_counts)()
    assert counts.succeeded == 1 and counts.open_positions == 1
    assert await sync_to_async(open_positions_count)(paper=True) == 1


async def test_a_watch_that_sees_nothing_would_see_a_real_trade(engine, localnet, trader):
    """The watch itself works: a real buy under it is seen signing and sending."""
    token = fresh_token(localnet)
    with NothingSigned(localnet) as watch:
        await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    assert "sign_versioned_transaction" in watch.signed and "_open" in watch.signed and watch.sent >= 1


async def test_a_paper_snipe_is_a_paper_buy_and_listed_in_the_paper_book_alone(engine, localnet, trader):
    from positions.models import Snipe
    from positions.selectors import recent_snipes
    from positions.sniping import Sniper
    from telegrambot.texts import refusal, snipe_bought
    from tests.e2e.test_sniping import _launch_and_handle

    await UserSettings.objects.filter(user=trader.wallet).aupdate(snipe_enabled=True, snipe_amount_lamports=SOL // 20)
    await _on_paper(trader)
    with NothingSigned(localnet) as watch:
        token, outcomes = await _launch_and_handle(localnet, Sniper(engine, word=refusal))
    assert watch.signed == [] and watch.sent == 0
    mine = [o for o in outcomes if o.telegram_user_id == trader.id]
    assert [(o.status, o.paper) for o in mine] == [("bought", True)]
    assert "Paper-sniped" in snipe_bought(mine[0]) and "virtual SOL" in snipe_bought(mine[0])
    snipe = await Snipe.objects.aget(user=trader.wallet, token_mint=token.mint)
    assert snipe.paper and snipe.trade_signature.startswith(paper.SIGNATURE_PREFIX)
    assert (await Position.objects.aget(user=trader.wallet, token_mint=token.mint)).paper
    assert [e.token_mint for e in (await recent_snipes(trader.wallet.pk, paper=True)).entries] == [token.mint]
    assert token.mint not in [e.token_mint for e in (await recent_snipes(trader.wallet.pk)).entries]


async def test_on_a_paper_only_bot_real_positions_and_orders_wait_unwatched(engine, localnet, trader, swap_compose):
    """PAPER_TRADING over a bot that held real money: real stop losses and orders neither fire nor retry (no real
    trade may be made, and a trader told every minute that it failed is helped by nothing); they wait."""
    import dataclasses

    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(take_profit_percentage=Decimal(50))
    order = await place_limit_sell(engine, telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all(),
                                   trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal("1.5"), "1.5x"),
                                   expires_in=None, now=timezone.now())
    paper_only = TradingService(rpc=engine.rpc, jupiter=engine.jupiter, keyring=engine.keyring,
                                config=dataclasses.replace(engine.config, paper_trading=True))
    told: list = []

    async def tell(item) -> None:
        told.append(item)

    monitor = Monitor(paper_only, notify=tell, orders=OrderEngine(paper_only, notify=tell, retry_base_seconds=0))
    pump(localnet, token)  # the take profit and the limit sell are both due
    with NothingSigned(localnet) as watch:
        report = await monitor.run_cycle()
    assert report.triggers == [] and report.order_events == [] and told == []
    assert watch.signed == [] and watch.sent == 0
    assert (await Order.objects.aget(pk=order.pk)).status == "active"
    assert await sync_to_async(paper.real_left_waiting)() == (1, 1)
    report = await Monitor(engine, orders=OrderEngine(engine, retry_base_seconds=0)).run_cycle()  # back to real
    assert [t.rule for t in report.triggers] == [Rule.TAKE_PROFIT]  # real again: the take profit sells it all
    assert not report.triggers[0].result.paper
