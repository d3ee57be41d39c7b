"""Settle what a crash or an outage left pending, and check that the ledger explains every wallet's balances."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus

from custody.withdrawals import SIGNATURE_FEE_LAMPORTS, resolve_withdrawal
from kernel.chain.errors import ChainError
from kernel.chain.rpc import RpcGateway
from kernel.db import db_call
from positions import services
from positions.models import Position, Trade
from wallets.models import UserWallet, Withdrawal

logger = logging.getLogger(__name__)
STATUS_BATCH = 256  # getSignatureStatuses accepts up to 256 signatures
RESUME_AT_ONCE = 8  # orphans seen through at once after a restart
CONFIRMED_STATUSES = (TransactionConfirmationStatus.Confirmed, TransactionConfirmationStatus.Finalized)


@dataclass
class ReconcileReport:
    confirmed: int = 0
    failed: int = 0
    expired: int = 0
    still_pending: int = 0


@dataclass(frozen=True)
class Settled:
    """A trade or withdrawal that reconciliation settled: its owner was told it would be, so tell them how."""
    telegram_user_id: int
    kind: str  # "buy", "sell" or "withdrawal"
    confirmed: bool
    signature: str
    subject: str  # the token's mint, or the withdrawal's destination
    lamports: int = 0  # a withdrawal's amount


Notify = Callable[[Settled], Awaitable[None]]


@dataclass
class WalletDifference:
    public_key: str
    problems: list[str] = field(default_factory=list)


async def reconcile_pending(rpc: RpcGateway, notify: Notify | None = None, *, min_age_seconds: float = 0,
                            tip_accounts: Collection[str] | None = (), resume: bool = False) -> ReconcileReport:
    """Resolve every pending trade and withdrawal from the chain: landed → applied exactly once; expired and
    never landed → failed, with nothing applied. ``notify`` hears of each one settled here (not of those the
    sender settled itself meanwhile), so a trader told "it will be settled" learns the outcome.

    ``min_age_seconds`` leaves younger ones to whoever is sending them (a running bot reports those itself); at
    start-up and from ``manage.py reconcile`` everything pending is an orphan, so nothing is left. A landed trade's
    tip is what it paid any of ``tip_accounts`` (its SOL change, which the ledger audit sums, is exact either way).

    ``resume`` (a bot starting up, whose predecessor died mid-trade): an orphan trade or withdrawal that has not
    landed and whose blockhash is still valid is sent again, the same signed bytes, until it lands or expires, as
    its sender would have done; dropped sends would otherwise doom every one a crash interrupts. A protected trade
    (it tips one of ``tip_accounts``) is not: it must never go to a public node; it lands or expires as it was
    sent. ``tip_accounts`` None (a configured block engine's could not be read): no trade is resent, as a protected
    one cannot be told from a public one."""
    if resume and tip_accounts is None:
        logger.warning("Orphan trades are not resent this time: the block engine's tip accounts could not be read, "
                       "so a protected trade could not be told from a public one; they land or expire as sent")
    resume_trades, tip_accounts = resume and tip_accounts is not None, tip_accounts or ()
    report = ReconcileReport()
    created_before = timezone.now() - timedelta(seconds=min_age_seconds) if min_age_seconds else None
    trades = await db_call(services.pending_trades)(created_before=created_before)
    withdrawals = await db_call(_pending_withdrawals)(created_before)
    if not trades and not withdrawals:
        return report
    height = await rpc.block_height()
    resumable: list[Trade] = []
    for batch in _batches(trades):
        statuses = await rpc.signature_statuses([t.signature for t in batch])
        for trade, status in zip(batch, statuses, strict=True):
            if resume_trades and status is None and height <= trade.last_valid_block_height \
                    and _public(trade.signed_transaction, tip_accounts):
                resumable.append(trade)
                continue
            await _settle_and_tell(rpc, trade, status, height, report, tip_accounts, notify)
    if resumable:
        await _resume(rpc, resumable, "trade(s)", report, lambda trade, status, now: _settle_and_tell(
            rpc, trade, status, now, report, tip_accounts, notify))
    resumable_withdrawals: list[Withdrawal] = []
    for batch in _batches(withdrawals):
        statuses = await rpc.signature_statuses([w.signature for w in batch])
        for withdrawal, status in zip(batch, statuses, strict=True):
            if resume and status is None and height <= withdrawal.last_valid_block_height \
                    and withdrawal.signed_transaction:
                resumable_withdrawals.append(withdrawal)
                continue
            await _settle_withdrawal_and_tell(withdrawal, status, height, report, notify)
    if resumable_withdrawals:
        await _resume(rpc, resumable_withdrawals, "withdrawal(s)", report, lambda withdrawal, status, now:
                      _settle_withdrawal_and_tell(withdrawal, status, now, report, notify))
    if report.confirmed or report.failed or report.expired:
        logger.info("Reconciled pending trades and withdrawals: %s", report)
    return report


async def _settle_and_tell(rpc: RpcGateway, trade: Trade, status, height: int, report: ReconcileReport,
                           tip_accounts: Collection[str], notify: Notify | None) -> None:
    try:
        settled = await _settle(rpc, trade, status, height, report, tip_accounts)
    except ChainError as err:  # one trade's details unreadable now: the next pass settles it
        logger.warning("Could not settle trade %s yet (%s); it stays pending", trade.signature, err)
        report.still_pending += 1
        return
    if settled is not None and settled.settled_now and notify is not None:
        await notify(Settled(trade.user.telegram_user_id, trade.side, settled.status == Trade.Status.CONFIRMED,
                             trade.signature, trade.token_mint))


async def _resume(rpc: RpcGateway, items: list, what: str, report: ReconcileReport,
                  settle: Callable[[Any, Any, int], Awaitable[None]]) -> None:
    """Send each orphan's bytes (a trade's or a withdrawal's) again until it lands or its blockhash expires, a few
    at a time, then ``settle`` it (item, status, block height)."""
    logger.info("Resending %d %s a previous run signed and may not have landed", len(items), what)
    gate = asyncio.Semaphore(RESUME_AT_ONCE)

    async def one(item) -> None:
        async with gate:
            try:
                await rpc.resume(bytes(item.signed_transaction), last_valid_block_height=item.last_valid_block_height)
                status = (await rpc.signature_statuses([item.signature]))[0]
                height = await rpc.block_height()
            except ChainError as err:
                logger.warning("Could not see %s through (%s); it stays pending", item.signature, err)
                report.still_pending += 1
                return
            await settle(item, status, height)

    await asyncio.gather(*(one(item) for item in items))


async def _settle_withdrawal_and_tell(withdrawal: Withdrawal, status, height: int, report: ReconcileReport,
                                      notify: Notify | None) -> None:
    settled = await _settle_withdrawal(withdrawal, status, height, report)
    if settled is not None and notify is not None:
        await notify(Settled(withdrawal.user.telegram_user_id, "withdrawal",
                             settled.status == Withdrawal.Status.CONFIRMED, withdrawal.signature,
                             withdrawal.destination, withdrawal.lamports))


def _public(signed: bytes | None, tip_accounts: Collection[str]) -> bool:
    """Bytes to resend, of a transaction that may go to a public node (it tips no block engine)."""
    if not signed:
        return False
    try:
        keys = {str(key) for key in VersionedTransaction.from_bytes(bytes(signed)).message.account_keys}
    except ValueError:
        return False
    return not keys & set(tip_accounts)


def _batches(items: list) -> list[list]:
    return [items[start:start + STATUS_BATCH] for start in range(0, len(items), STATUS_BATCH)]


async def _settle_withdrawal(withdrawal: Withdrawal, status, height: int,
                             report: ReconcileReport) -> Withdrawal | None:
    if status is None:
        if height > withdrawal.last_valid_block_height:
            report.expired += 1
            return await resolve_withdrawal(withdrawal.pk, Withdrawal.Status.FAILED, error="blockhash expired")
        report.still_pending += 1
        return None
    if status.confirmation_status not in CONFIRMED_STATUSES:  # processed only: a fork could still drop it
        report.still_pending += 1
        return None
    fee = SIGNATURE_FEE_LAMPORTS  # it landed, so the fee was paid whether the transfer succeeded or not
    if status.err is None:
        report.confirmed += 1
        return await resolve_withdrawal(withdrawal.pk, Withdrawal.Status.CONFIRMED, fee=fee,
                                        change=-(withdrawal.lamports + fee))
    report.failed += 1
    return await resolve_withdrawal(withdrawal.pk, Withdrawal.Status.FAILED, error=str(status.err), fee=fee,
                                    change=-fee)


def _pending_withdrawals(created_before: datetime | None) -> list[Withdrawal]:
    withdrawals = Withdrawal.objects.filter(status=Withdrawal.Status.PENDING)
    if created_before is not None:
        withdrawals = withdrawals.filter(created_at__lt=created_before)
    return list(withdrawals.select_related("user").order_by("pk"))


async def _settle(rpc: RpcGateway, trade: Trade, status, height: int, report: ReconcileReport,
                  tip_accounts: Collection[str]) -> Trade | None:
    if status is None:
        if height > trade.last_valid_block_height:
            report.expired += 1
            return await db_call(services.fail_trade)(trade_id=trade.pk, error="blockhash expired before it landed")
        report.still_pending += 1
        return None
    effects = await rpc.transaction_effects(trade.signature, owner=trade.user.public_key, mint=trade.token_mint,
                                            tip_accounts=tip_accounts)
    if effects is None:
        report.still_pending += 1
        return None
    if status.err is None:
        report.confirmed += 1
        return await db_call(services.confirm_trade)(trade_id=trade.pk, effects=effects)
    report.failed += 1
    return await db_call(services.fail_trade)(trade_id=trade.pk, error=str(status.err), effects=effects)


async def audit_wallets(rpc: RpcGateway) -> list[WalletDifference]:
    """Compare each wallet's token balances on chain with its open positions, and its SOL with the ledger.

    Tokens arrive only through buys, so token balances must match exactly. SOL also arrives by deposit, which
    the ledger does not see: the check is that trading never took out more than was deposited.
    """
    wallets, held, sol_flow = await _ledger_view()
    differences = []
    for wallet in wallets:
        problems = []
        chain_tokens = await rpc.token_balances(wallet.public_key)
        for mint in sorted(set(chain_tokens) | set(held[wallet.pk])):
            ledger_raw, chain_raw = held[wallet.pk].get(mint, 0), chain_tokens.get(mint, 0)
            if ledger_raw != chain_raw:
                problems.append(f"{mint}: ledger {ledger_raw} raw units, chain {chain_raw}")
        balance = await rpc.sol_balance(wallet.public_key)
        implied_deposits = balance - sol_flow.get(wallet.pk, 0)
        if implied_deposits < 0:
            problems.append(f"SOL: balance {balance} lamports is below what trading alone explains "
                            f"(net trading flow {sol_flow.get(wallet.pk, 0)})")
        if problems:
            differences.append(WalletDifference(wallet.public_key, problems))
    return differences


@db_call
def _ledger_view():
    wallets = list(UserWallet.objects.order_by("pk"))
    held: dict[int, dict[str, int]] = defaultdict(dict)
    # Paper rows hold nothing on chain and moved no lamport: never part of what the chain must explain.
    for position in (Position.objects.filter(is_open=True, paper=False)
                     .only("user_id", "token_mint", "remaining_amount_raw")):
        held[position.user_id][position.token_mint] = position.remaining_amount_raw
    sol_flow: dict[int, int] = defaultdict(int)
    for model, pending in ((Trade, Trade.Status.PENDING), (Withdrawal, Withdrawal.Status.PENDING)):
        rows = model.objects.filter(paper=False) if model is Trade else model.objects.all()
        for user_id, total in (rows.exclude(status=pending).values("user_id")
                               .annotate(total=Sum("sol_change_lamports")).values_list("user_id", "total")):
            sol_flow[user_id] += total
    return wallets, held, sol_flow
