"""Database writes of the trading flows. Each function is one short transaction; the chain is never called here.

The ledger rule: a trade row exists, pending and with its signature, before its transaction is sent; an outcome
is applied to a position exactly once, under a row lock, when the pending trade turns confirmed or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from custody import audit
from kernel.chain.effects import TransactionEffects
from positions.errors import DailySpendCapReached, DuplicateTrade, NoOpenPosition, SellAmountTooLarge
from positions.models import Position, Trade
from positions.order_services import check_firing_open
from positions.risk import check_daily_spend, record_spend_refusal
from wallets.errors import WalletNotFound
from wallets.models import UserSettings, UserWallet


@dataclass(frozen=True)
class Trader:
    wallet: UserWallet
    settings: UserSettings


@dataclass(frozen=True)
class PendingTrade:
    trade_id: int
    signature: str
    last_valid_block_height: int


def load_trader(telegram_user_id: int) -> Trader:
    wallet = UserWallet.objects.select_related("settings").filter(telegram_user_id=telegram_user_id).first()
    if wallet is None:
        raise WalletNotFound()
    return Trader(wallet=wallet, settings=wallet.settings)


def open_position(wallet: UserWallet, mint: str, *, paper: bool = False) -> Position:
    position = Position.objects.filter(user=wallet, token_mint=mint, is_open=True, paper=paper).first()
    if position is None:
        raise NoOpenPosition(mint)
    return position


def record_pending_buy(*, wallet: UserWallet, mint: str, decimals: int, lamports_in: int, quoted_out: int,
                       min_out: int, signature: str, last_valid_block_height: int,
                       spend_cap_lamports: int | None = None, signed: bytes | None = None,
                       order_firing_id: int | None = None, paper: bool = False) -> PendingTrade:
    """With ``spend_cap_lamports``, the daily spend cap is checked again here, under the wallet's row lock and in the
    transaction that writes the pending row: two buys at once (a snipe and a manual buy, two workers) both passed
    the first check, and only this one sees what the other spent. ``order_firing_id``: the order firing this trade
    executes, still open (``order_services.check_firing_open``) and given at most one trade."""
    try:
        with transaction.atomic():
            if order_firing_id is not None:
                check_firing_open(order_firing_id)
            if spend_cap_lamports is not None:
                UserWallet.objects.select_for_update().filter(pk=wallet.pk).first()
                check_daily_spend(wallet=wallet, lamports=lamports_in, cap=spend_cap_lamports, now=timezone.now(),
                                  paper=paper)
            trade = Trade.objects.create(user=wallet, token_mint=mint, token_decimals=decimals, side=Trade.Side.BUY,
                                         signature=signature, lamports_in=lamports_in, quoted_out=quoted_out,
                                         min_out=min_out, last_valid_block_height=last_valid_block_height,
                                         signed_transaction=signed, order_firing_id=order_firing_id, paper=paper)
    except IntegrityError:
        _refuse_duplicate(signature)
        raise
    except DailySpendCapReached as refused:
        raise record_spend_refusal(wallet, refused) from None  # audited after the rollback, so the row stays
    return PendingTrade(trade.pk, signature, last_valid_block_height)


def _refuse_duplicate(signature: str) -> None:
    """Two identical requests in one blockhash window build byte-identical transactions (same signature); the
    network would land only one. The second is refused before it is sent, and nothing of it is kept."""
    if Trade.objects.filter(signature=signature).exists():
        raise DuplicateTrade()


def record_pending_sell(*, wallet: UserWallet, mint: str, raw: int, quoted_out: int, min_out: int, signature: str,
                        last_valid_block_height: int, signed: bytes | None = None,
                        order_firing_id: int | None = None, paper: bool = False) -> PendingTrade:
    """Lock the position, reserve ``raw`` and write the pending trade, all at once.

    Reserving together with the pending row means a reservation can never outlive its trade (a crash leaves both
    or neither), and concurrent sells of one position can never together exceed what it holds.
    """
    try:
        return _reserve_and_record_sell(wallet=wallet, mint=mint, raw=raw, quoted_out=quoted_out, min_out=min_out,
                                        signature=signature, last_valid_block_height=last_valid_block_height,
                                        signed=signed, order_firing_id=order_firing_id, paper=paper)
    except IntegrityError:
        _refuse_duplicate(signature)
        raise


def _reserve_and_record_sell(*, wallet: UserWallet, mint: str, raw: int, quoted_out: int, min_out: int,
                             signature: str, last_valid_block_height: int, signed: bytes | None,
                             order_firing_id: int | None, paper: bool) -> PendingTrade:
    with transaction.atomic():
        if order_firing_id is not None:
            check_firing_open(order_firing_id)
        position = (Position.objects.select_for_update()
                    .filter(user=wallet, token_mint=mint, is_open=True, paper=paper).first())
        if position is None:
            raise NoOpenPosition(mint)
        available = position.remaining_amount_raw - position.reserved_raw
        if raw > available:
            raise SellAmountTooLarge(raw, available, position.token_decimals, position.reserved_raw)
        position.reserved_raw += raw
        position.save(update_fields=["reserved_raw"])
        trade = Trade.objects.create(user=wallet, position=position, token_mint=mint,
                                     token_decimals=position.token_decimals, side=Trade.Side.SELL,
                                     signature=signature, amount_in_raw=raw, quoted_out=quoted_out, min_out=min_out,
                                     last_valid_block_height=last_valid_block_height, signed_transaction=signed,
                                     order_firing_id=order_firing_id, paper=paper)
    return PendingTrade(trade.pk, signature, last_valid_block_height)


def confirm_trade(*, trade_id: int, effects: TransactionEffects) -> Trade:
    """Apply a landed, successful trade to its position. Applying twice changes nothing the second time;
    ``trade.settled_now`` tells whether this call was the one that settled it (the engine and reconciliation race)."""
    with transaction.atomic():
        trade = Trade.objects.select_for_update().get(pk=trade_id)
        trade.settled_now = trade.status == Trade.Status.PENDING
        if not trade.settled_now:
            return trade
        trade.fee_lamports = effects.fee_lamports
        trade.tip_lamports = effects.tip_lamports
        trade.sol_change_lamports = effects.sol_change_lamports
        # Token-account rent is a deposit, neither a cost nor a proceed: paid when a buy opens the account, back
        # when a full exit closes it. It is recorded apart, and kept out of the cost basis and the PnL.
        trade.rent_paid_lamports = max(effects.rent_paid_lamports, 0)
        trade.rent_returned_lamports = max(effects.rent_returned_lamports, 0)
        if trade.side == Trade.Side.BUY:
            _apply_buy(trade, received_raw=max(effects.token_change_raw, 0))
        else:  # what the swap paid out: the SOL change before the fee and the tip came off it
            _apply_sell(trade, sold_raw=max(-effects.token_change_raw, 0),
                        received=max(effects.sol_change_lamports + effects.fee_lamports + effects.tip_lamports
                                     - trade.rent_returned_lamports + trade.rent_paid_lamports, 0))
        trade.status = Trade.Status.CONFIRMED
        trade.resolved_at = timezone.now()
        trade.save()
    return trade


def fail_trade(*, trade_id: int, error: str, effects: TransactionEffects | None = None) -> Trade:
    """Mark a pending trade failed (nothing moved but, if it landed, the fee) and release its reservation.
    ``trade.settled_now`` as for confirm_trade."""
    with transaction.atomic():
        trade = Trade.objects.select_for_update().get(pk=trade_id)
        trade.settled_now = trade.status == Trade.Status.PENDING
        if not trade.settled_now:
            return trade
        if trade.side == Trade.Side.SELL and trade.position_id is not None:
            position = Position.objects.select_for_update().get(pk=trade.position_id)
            position.reserved_raw -= min(trade.amount_in_raw, position.reserved_raw)
            position.save(update_fields=["reserved_raw"])
        if effects is not None:
            trade.fee_lamports = effects.fee_lamports
            trade.tip_lamports = effects.tip_lamports
            trade.sol_change_lamports = effects.sol_change_lamports
        trade.status = Trade.Status.FAILED
        trade.error = error[:2000]
        trade.resolved_at = timezone.now()
        trade.save()
    return trade


def pending_trades(limit: int = 1000, *, created_before: datetime | None = None) -> list[Trade]:
    """Real trades awaiting the chain's word (a paper trade is recorded and filled in one transaction: never
    pending, never sent)."""
    trades = Trade.objects.filter(status=Trade.Status.PENDING, paper=False)
    if created_before is not None:
        trades = trades.filter(created_at__lt=created_before)
    return list(trades.select_related("user").order_by("pk")[:limit])


def _apply_buy(trade: Trade, *, received_raw: int) -> None:
    cost = trade.lamports_in + trade.fee_lamports + trade.tip_lamports  # a tip is a cost of the buy, like the fee
    trade.amount_out_raw = received_raw
    position = _locked_open_position(trade)
    position.entry_amount_raw += received_raw
    position.remaining_amount_raw += received_raw
    position.entry_cost_lamports += cost
    position.remaining_cost_lamports += cost
    position.save()
    trade.position = position


def _locked_open_position(trade: Trade) -> Position:
    """The open position to average into, created if needed; concurrent first buys end in one position."""
    query = Position.objects.select_for_update().filter(user_id=trade.user_id, token_mint=trade.token_mint,
                                                        is_open=True, paper=trade.paper)
    position = query.first()
    if position is not None:
        return position
    try:
        with transaction.atomic():
            return Position.objects.create(user_id=trade.user_id, token_mint=trade.token_mint,
                                           token_decimals=trade.token_decimals, paper=trade.paper)
    except IntegrityError:  # another buy of the same mint created it a moment ago
        return query.get()


def _apply_sell(trade: Trade, *, sold_raw: int, received: int) -> None:
    position = Position.objects.select_for_update().get(pk=trade.position_id)
    position.reserved_raw -= min(trade.amount_in_raw, position.reserved_raw)
    sold_raw = min(sold_raw, position.remaining_amount_raw)
    if sold_raw == position.remaining_amount_raw:
        cost_part = position.remaining_cost_lamports
    else:  # the cost basis shrinks in proportion, rounded down so the rest keeps at least its share
        cost_part = position.remaining_cost_lamports * sold_raw // position.remaining_amount_raw
    position.remaining_amount_raw -= sold_raw
    position.remaining_cost_lamports -= cost_part
    position.realized_amount_lamports += received
    pnl = received - trade.fee_lamports - trade.tip_lamports - cost_part
    position.realized_pnl_lamports += pnl
    if position.remaining_amount_raw == 0:
        position.is_open = False
        position.closed_at = timezone.now()
        position.reserved_raw = 0
    position.save()
    trade.amount_in_raw = sold_raw
    trade.lamports_out = received
    trade.cost_basis_lamports = cost_part
    trade.realized_pnl_lamports = pnl


def set_position_threshold(*, telegram_user_id: int, mint: str, field: str, value, paper: bool = False) -> Position:
    """Override the user's stop loss or take profit for one open position (``value`` None: follow the user's);
    ``paper``: the position of the paper book."""
    if field not in ("stop_loss_percentage", "take_profit_percentage"):
        raise ValueError(field)
    with transaction.atomic():
        position = (Position.objects.select_for_update()
                    .filter(user__telegram_user_id=telegram_user_id, token_mint=mint, is_open=True, paper=paper)
                    .first())
        if position is None:
            raise NoOpenPosition(mint)
        setattr(position, field, value)
        position.save(update_fields=[field])
    audit.record(audit.Action.SETTINGS_CHANGED, actor=audit.trader(telegram_user_id), source=audit.TELEGRAM,
                 user=position.user_id, setting=field, position=position.pk, mint=mint, after=value)
    return position
