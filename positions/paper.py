"""Paper trading: a trader's book of virtual SOL, and the fills of paper trades.

A paper trade is quoted by the configured swap API, its swap built and inspected like a real one (and simulated when
the real wallet could pay for it), then filled here at the quote's output: never signed, never sent. Its fee is the
network's signature fee plus the priority fee (or tip) the real swap would have paid, and a paper buy that opens a
position pays the token account's rent, returned on a full exit when swaps are composed, as on chain.

The fill reuses the ledger's own bookkeeping (``services.record_pending_*`` then ``services.confirm_trade``) in one
transaction with the book's debit or credit: a paper trade is never pending, so reconciliation never sees one, and the
book always equals its start plus the SOL change of its paper trades. Paper rows carry ``paper=True`` and every real
figure (reconciliation, metrics, stats, limits of the real book) leaves them out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from custody import audit
from kernel.chain.effects import TransactionEffects
from kernel.config import TradingConfig
from positions import services
from positions.errors import DailySpendCapReached, PaperBalanceTooLow, PaperBookInUse
from positions.models import Order, PaperAccount, Position, Trade
from positions.risk import check_daily_spend, record_spend_refusal
from wallets.models import UserSettings, UserWallet

SIGNATURE_PREFIX = "paper-"  # a paper trade's reference in the signature column: never a base58 signature


def is_paper(settings: UserSettings, config: TradingConfig) -> bool:
    """Whether this trader's new trades are paper ones: the operator's PAPER_TRADING, else their own /paper."""
    return config.paper_trading or settings.paper_mode


def mode_of(telegram_user_id: int, config: TradingConfig) -> bool:
    """``is_paper`` for a Telegram user, who may have no wallet yet (then the operator's setting)."""
    if config.paper_trading:
        return True
    return UserSettings.objects.filter(user__telegram_user_id=telegram_user_id, paper_mode=True).exists()


def new_reference() -> str:
    return SIGNATURE_PREFIX + secrets.token_hex(24)


def book(wallet: UserWallet, config: TradingConfig) -> PaperAccount:
    """The trader's paper book as it stands, read only: one not opened yet reads as it would open, with
    PAPER_START_SOL (reading writes nothing; the first paper trade or /paper on opens it)."""
    account = PaperAccount.objects.filter(user=wallet).first()
    return account if account is not None else _new_book(wallet, config)


def _new_book(wallet: UserWallet, config: TradingConfig) -> PaperAccount:
    return PaperAccount(user=wallet, balance_lamports=config.paper_start_lamports,
                        start_lamports=config.paper_start_lamports, started_at=timezone.now())


def _open_book(wallet: UserWallet, config: TradingConfig) -> None:
    if not PaperAccount.objects.filter(user=wallet).exists():
        try:
            with transaction.atomic():
                _new_book(wallet, config).save()
        except IntegrityError:  # opened a moment ago by another paper trade of the trader
            pass


def _locked_book(wallet: UserWallet, config: TradingConfig) -> PaperAccount:
    _open_book(wallet, config)
    return PaperAccount.objects.select_for_update().get(user=wallet)


def holds_token_account(wallet: UserWallet, mint: str, *, compose: bool) -> bool:
    """Whether the paper wallet would already have this mint's token account: an open paper position (composed
    swaps close the account on a full exit), or any paper position ever (Jupiter's /swap never closes it)."""
    positions = Position.objects.filter(user=wallet, token_mint=mint, paper=True)
    return positions.filter(is_open=True).exists() if compose else positions.exists()


@dataclass(frozen=True)
class Costs:
    """What the real swap would have cost beyond its input: the network fee (signature and priority), the tip
    (MEV protection) and the token account's rent (a deposit, for a buy that creates the account)."""

    fee_lamports: int
    tip_lamports: int = 0
    rent_lamports: int = 0  # a buy's, paid if the paper book has no token account for the mint yet


def fill_buy(*, wallet: UserWallet, mint: str, decimals: int, lamports_in: int, quoted_out: int, min_out: int,
             costs: Costs, config: TradingConfig, spend_cap_lamports: int,
             order_firing_id: int | None = None) -> Trade:
    """Record and fill a paper buy at the quote, debiting the book; the daily spend cap is checked again under the
    book's lock (two paper buys at once both passed the first check)."""
    try:
        with transaction.atomic():
            account = _locked_book(wallet, config)
            check_daily_spend(wallet=wallet, lamports=lamports_in, cap=spend_cap_lamports, now=timezone.now(),
                              paper=True)
            rent = 0 if holds_token_account(wallet, mint, compose=config.swap_compose) else costs.rent_lamports
            cost = lamports_in + costs.fee_lamports + costs.tip_lamports + rent
            if cost > account.balance_lamports:
                raise PaperBalanceTooLow(cost, account.balance_lamports)
            pending = services.record_pending_buy(
                wallet=wallet, mint=mint, decimals=decimals, lamports_in=lamports_in, quoted_out=quoted_out,
                min_out=min_out, signature=new_reference(), last_valid_block_height=0,
                order_firing_id=order_firing_id, paper=True)
            trade = services.confirm_trade(trade_id=pending.trade_id, effects=TransactionEffects(
                fee_lamports=costs.fee_lamports, sol_change_lamports=-cost, token_change_raw=quoted_out, error="",
                rent_paid_lamports=rent, tip_lamports=costs.tip_lamports))
            account.balance_lamports -= cost
            account.save(update_fields=["balance_lamports"])
    except DailySpendCapReached as refused:
        raise record_spend_refusal(wallet, refused) from None  # audited after the rollback, so the row stays
    return trade


def fill_sell(*, wallet: UserWallet, mint: str, raw: int, quoted_out: int, min_out: int, costs: Costs,
              config: TradingConfig, order_firing_id: int | None = None) -> Trade:
    """Record and fill a paper sale of ``raw`` at the quote, crediting the book. A full exit gets back the rent
    the position's buys paid when swaps are composed (the real one would close the account)."""
    with transaction.atomic():
        account = _locked_book(wallet, config)
        pending = services.record_pending_sell(
            wallet=wallet, mint=mint, raw=raw, quoted_out=quoted_out, min_out=min_out, signature=new_reference(),
            last_valid_block_height=0, order_firing_id=order_firing_id, paper=True)
        position = Position.objects.get(trades__pk=pending.trade_id)
        full_exit = raw == position.remaining_amount_raw
        rent_back = _rent_paid(position) if full_exit and config.swap_compose else 0
        change = quoted_out - costs.fee_lamports - costs.tip_lamports + rent_back
        if account.balance_lamports + change < 0:  # the fee is more than the sale brings and the book holds
            raise PaperBalanceTooLow(costs.fee_lamports + costs.tip_lamports, account.balance_lamports + quoted_out)
        trade = services.confirm_trade(trade_id=pending.trade_id, effects=TransactionEffects(
            fee_lamports=costs.fee_lamports, sol_change_lamports=change, token_change_raw=-raw, error="",
            rent_returned_lamports=rent_back, tip_lamports=costs.tip_lamports))
        account.balance_lamports += change
        account.save(update_fields=["balance_lamports"])
    return trade


def _rent_paid(position: Position) -> int:
    """The rent the position's buys paid for its token account: what closing the account would return."""
    paid = position.trades.filter(side=Trade.Side.BUY, status=Trade.Status.CONFIRMED).aggregate(
        total=Sum("rent_paid_lamports"))["total"]
    return paid or 0


@dataclass(frozen=True)
class PaperResults:
    """The paper book so far, shown before a trader goes back to real money."""

    start_lamports: int
    balance_lamports: int
    trades: int
    realized_pnl_lamports: int
    open_positions: int
    open_cost_lamports: int
    active_orders: int

    @property
    def change_lamports(self) -> int:
        """Balance plus what is still held at cost, against the start: the realized result and open rent."""
        return self.balance_lamports + self.open_cost_lamports - self.start_lamports


def results(wallet: UserWallet, config: TradingConfig) -> PaperResults:
    account = book(wallet, config)
    since = Q(created_at__gte=account.started_at)
    trades = Trade.objects.filter(since, user=wallet, paper=True, status=Trade.Status.CONFIRMED).aggregate(
        n=Count("pk"), pnl=Sum("realized_pnl_lamports"))
    held = Position.objects.filter(user=wallet, paper=True, is_open=True).aggregate(
        n=Count("pk"), cost=Sum("remaining_cost_lamports"))
    orders = Order.objects.filter(user=wallet, paper=True, status__in=[Order.Status.ACTIVE, Order.Status.FIRING])
    return PaperResults(start_lamports=account.start_lamports, balance_lamports=account.balance_lamports,
                        trades=trades["n"], realized_pnl_lamports=trades["pnl"] or 0, open_positions=held["n"],
                        open_cost_lamports=held["cost"] or 0, active_orders=orders.count())


def reset(*, telegram_user_id: int, config: TradingConfig) -> PaperResults:
    """Start the paper book again with PAPER_START_SOL (audited); refused while it holds positions or orders. Returns
    the results it had."""
    wallet = UserWallet.objects.get(telegram_user_id=telegram_user_id)
    with transaction.atomic():
        account = _locked_book(wallet, config)
        before = results(wallet, config)
        if before.open_positions or before.active_orders:
            raise PaperBookInUse(before.open_positions, before.active_orders)
        account.balance_lamports = account.start_lamports = config.paper_start_lamports
        account.started_at = timezone.now()
        account.save(update_fields=["balance_lamports", "start_lamports", "started_at"])
    audit.record(audit.Action.SETTINGS_CHANGED, actor=audit.trader(telegram_user_id), source=audit.TELEGRAM,
                 user=wallet, setting="paper_book", before=before.balance_lamports, after=account.balance_lamports)
    return before


def real_left_waiting() -> tuple[int, int]:
    """Open real positions and active real orders: what PAPER_TRADING leaves waiting."""
    return (Position.objects.filter(paper=False, is_open=True).count(),
            Order.objects.filter(paper=False, status__in=[Order.Status.ACTIVE, Order.Status.FIRING]).count())


def set_mode(*, telegram_user_id: int, paper: bool, config: TradingConfig) -> UserSettings:
    """Turn the trader's paper mode on or off (audited); turning it on opens the book if it is new."""
    with transaction.atomic():
        settings = UserSettings.objects.select_for_update().select_related("user").get(
            user__telegram_user_id=telegram_user_id)
        before = settings.paper_mode
        settings.paper_mode = paper
        settings.save(update_fields=["paper_mode", "updated_at"])
        if paper:
            _open_book(settings.user, config)
    audit.record(audit.Action.SETTINGS_CHANGED, actor=audit.trader(telegram_user_id), source=audit.TELEGRAM,
                 user=settings.user, setting="paper_mode", before=before, after=paper)
    return settings
