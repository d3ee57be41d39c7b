"""Withdrawing SOL: plan (checked, shown to the user), then execute (pending row first, send, confirm)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from solders.hash import Hash
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from custody import audit, killswitch
from custody.errors import ActionPaused, WithdrawalError
from custody.policy import check_destination, current, needs_delay
from kernel.chain.errors import ChainError, TransactionRejected
from kernel.chain.rpc import Outcome, RpcGateway
from kernel.config import get_config
from kernel.db import db_call
from kernel.display import sol as _sol
from wallets.crypto import Keyring
from wallets.models import UserWallet, Withdrawal
from wallets.signing import sign_message_bytes

SIGNATURE_FEE_LAMPORTS = 5_000
SYSTEM_ACCOUNT_RENT_LAMPORTS = 890_880  # rent-exempt minimum of a 0-byte system account
REQUEST_TTL = timedelta(minutes=30)  # as long as the confirmation button lives (telegrambot.conversation)


@dataclass(frozen=True)
class WithdrawalPlan:
    destination: str
    lamports: int
    fee_lamports: int
    balance_lamports: int


@dataclass(frozen=True)
class WithdrawalResult:
    signature: str
    lamports: int
    fee_lamports: int
    destination: str


async def plan_withdrawal(*, rpc: RpcGateway, wallet: UserWallet, destination: str, lamports: int | None,
                          now: datetime | None = None) -> WithdrawalPlan:
    """Check a withdrawal against the guards and the live balance; ``lamports=None`` means everything that can
    leave. Refusals raise WithdrawalError (or ActionPaused) and change nothing."""
    await db_call(_check_guards)(wallet, destination, now or timezone.now())
    if destination == wallet.public_key:
        raise WithdrawalError("That is this bot wallet's own address. Send to another wallet you control.")
    balance, (destination_balance, is_wallet) = await asyncio.gather(rpc.sol_balance(wallet.public_key),
                                                                     rpc.account_kind(destination))
    if not is_wallet:
        raise WithdrawalError("That address is a program or a token account, not a wallet: SOL sent there could be "
                              "lost for good. Send to the address your wallet app (Phantom, Solflare…) shows.")
    fee = SIGNATURE_FEE_LAMPORTS
    withdrawable = balance - fee
    if lamports is None:
        lamports = withdrawable
    if lamports <= 0:
        raise WithdrawalError(f"There is nothing to withdraw: the balance is {_sol(balance)} and the network fee "
                              f"is {_sol(fee)}.")
    if lamports > withdrawable:
        raise WithdrawalError(f"You can withdraw at most {_sol(max(withdrawable, 0))} (balance {_sol(balance)} "
                              f"minus the {_sol(fee)} network fee). Type a smaller amount or 'all'.")
    left = withdrawable - lamports
    if 0 < left < SYSTEM_ACCOUNT_RENT_LAMPORTS:
        raise WithdrawalError(f"That would leave {_sol(left)}, below the {_sol(SYSTEM_ACCOUNT_RENT_LAMPORTS)} a "
                              "Solana account must keep. Withdraw 'all', or leave at least that much.")
    if destination_balance == 0 and lamports < SYSTEM_ACCOUNT_RENT_LAMPORTS:
        raise WithdrawalError(f"The destination account is empty, so it must receive at least "
                              f"{_sol(SYSTEM_ACCOUNT_RENT_LAMPORTS)} to exist. Send more.")
    return WithdrawalPlan(destination=destination, lamports=lamports, fee_lamports=fee, balance_lamports=balance)


def _check_guards(wallet: UserWallet, destination: str, now: datetime) -> None:
    def refused(reason: str) -> None:
        audit.record(audit.Action.WITHDRAWAL_REFUSED, actor=_actor(wallet), source=audit.TELEGRAM, user=wallet,
                     destination=destination, reason=reason)

    wallet.refresh_from_db(fields=["is_frozen"])
    if wallet.is_frozen:
        refused("wallet frozen")
        raise WithdrawalError("Withdrawals are paused on your account by the operators. Contact support.")
    try:
        killswitch.ensure_allowed(killswitch.Action.WITHDRAWALS, wallet.telegram_user_id)
    except ActionPaused:
        refused("kill switch")
        raise
    try:
        check_destination(wallet, destination, now)
    except WithdrawalError:
        refused("allow-list")
        raise


def ensure_key_export_allowed(wallet: UserWallet, now: datetime) -> None:
    """Whoever holds the key can move everything, anywhere, at once: so export passes the guards a withdrawal passes
    (freeze, kill switch), and waits while the user's own withdrawal protection is on, since the key walks around
    it. Switching that protection off takes the safety delay, which is the point."""
    wallet.refresh_from_db(fields=["is_frozen"])
    if wallet.is_frozen:
        raise WithdrawalError("Withdrawals and key export are paused on your account by the operators. "
                              "Contact support.")
    killswitch.ensure_allowed(killswitch.Action.WITHDRAWALS, wallet.telegram_user_id)
    view = current(wallet, now)
    protections = {name: command for name, command, on in (
        ("allow-list", "/allowlist off", view.allowlist_on),
        ("large-withdrawal delay", "/withdrawdelay off", view.threshold_lamports is not None)) if on}
    if protections:
        names = " and ".join(protections)
        audit.record(audit.Action.KEY_EXPORT_REFUSED, actor=_actor(wallet), source=audit.TELEGRAM, user=wallet,
                     reason=names)
        verb = "are" if len(protections) > 1 else "is"
        raise WithdrawalError(f"Key export is off while your withdrawal {names} {verb} on: whoever holds the key "
                              "could move your funds anywhere at once, around that protection. To export, turn it "
                              f"off first with {' and '.join(protections.values())} (that takes effect after the "
                              "safety delay), then send /exportkey again.")


@db_call
def request_withdrawal(*, wallet: UserWallet, plan: WithdrawalPlan) -> Withdrawal:
    """The row a confirmation button points at. The destination and amount the user confirms are read back from
    here, never from the shared cache, so whoever can write to the cache cannot redirect a withdrawal."""
    Withdrawal.objects.filter(user=wallet, status=Withdrawal.Status.REQUESTED,
                              created_at__lt=timezone.now() - REQUEST_TTL).update(
        status=Withdrawal.Status.CANCELLED, cancelled_by="not confirmed in time", resolved_at=timezone.now())
    return Withdrawal.objects.create(user=wallet, destination=plan.destination, lamports=plan.lamports,
                                     status=Withdrawal.Status.REQUESTED)


async def confirm_withdrawal(*, rpc: RpcGateway, keyring: Keyring, wallet: UserWallet, withdrawal_id: int,
                             delay_seconds: int, now: datetime | None = None) -> WithdrawalResult | Withdrawal:
    """Send the withdrawal the user confirmed, or delay it when the policy says so (then the scheduled row is
    returned). Checked again (guards, balance), then the policy is checked, the transaction signed and the row
    written in one database transaction holding the user's row lock; only after that is anything sent."""
    now = now or timezone.now()
    requested = await db_call(_requested)(wallet, withdrawal_id)
    try:
        plan = await plan_withdrawal(rpc=rpc, wallet=wallet, destination=requested.destination,
                                     lamports=requested.lamports, now=now)
        blockhash, last_valid = await rpc.latest_blockhash()
        withdrawal, signed, signature = await db_call(commit_withdrawal)(wallet, withdrawal_id, plan, blockhash,
                                                                         last_valid, keyring, now, delay_seconds)
    except Exception as err:
        await db_call(_close_requested)(withdrawal_id, getattr(err, "user_message", type(err).__name__))
        raise
    if signed is None:
        return withdrawal
    return await _land(rpc, withdrawal_id, wallet, plan, signed, signature, last_valid)


async def execute_withdrawal(*, rpc: RpcGateway, keyring: Keyring, wallet: UserWallet, plan: WithdrawalPlan,
                             now: datetime | None = None,
                             delay_seconds: int | None = None) -> WithdrawalResult | Withdrawal:
    """Request and confirm at once (scripts, tests): sent, or delayed when the policy says so."""
    withdrawal = await request_withdrawal(wallet=wallet, plan=plan)
    if delay_seconds is None:
        delay_seconds = get_config().custody.large_withdrawal_delay_seconds
    return await confirm_withdrawal(rpc=rpc, keyring=keyring, wallet=wallet, withdrawal_id=withdrawal.pk,
                                    delay_seconds=delay_seconds, now=now)


def _requested(wallet: UserWallet, withdrawal_id: int) -> Withdrawal:
    withdrawal = Withdrawal.objects.filter(pk=withdrawal_id, user=wallet, status=Withdrawal.Status.REQUESTED,
                                           created_at__gte=timezone.now() - REQUEST_TTL).first()
    if withdrawal is None:
        raise WithdrawalError("That withdrawal request has expired or was already answered; nothing was sent. "
                              "Send /withdraw again.")
    return withdrawal


def commit_withdrawal(wallet: UserWallet, withdrawal_id: int, plan: WithdrawalPlan, blockhash: str, last_valid: int,
                      keyring: Keyring, now: datetime, delay_seconds: int
                      ) -> tuple[Withdrawal, VersionedTransaction | None, str | None]:
    """One transaction: lock the user, check the policy, then either delay the withdrawal or sign it and write it as
    pending. Returns the row and, when it is to be sent now, the signed transaction and its signature."""
    with transaction.atomic():
        # The race this lock closes: several workers each summed the last 24 h before any of them had written its
        # withdrawal, so three 0.9 SOL withdrawals under a 1 SOL threshold all left at once. Holding the user's row
        # from the check to the write makes the next worker's sum include this withdrawal.
        UserWallet.objects.select_for_update().filter(pk=wallet.pk).first()
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.REQUESTED:
            raise WithdrawalError("That withdrawal was already answered; nothing more was sent. See /wallet.")
        if (plan.destination, plan.lamports) != (withdrawal.destination, withdrawal.lamports):
            raise WithdrawalError("That withdrawal does not match what you confirmed; nothing was sent. "
                                  "Send /withdraw again.")
        if needs_delay(wallet, withdrawal.lamports, now):
            withdrawal.status = Withdrawal.Status.SCHEDULED
            withdrawal.execute_after = now + timedelta(seconds=delay_seconds)
            withdrawal.save(update_fields=["status", "execute_after"])
            audit.record(audit.Action.WITHDRAWAL_SCHEDULED, actor=_actor(wallet), source=audit.TELEGRAM, user=wallet,
                         withdrawal=withdrawal.pk, destination=withdrawal.destination, lamports=withdrawal.lamports,
                         execute_after=withdrawal.execute_after.isoformat())
            return withdrawal, None, None
        signed, signature = _sign(wallet, plan, blockhash, keyring)
        withdrawal.status = Withdrawal.Status.PENDING
        withdrawal.signature = signature
        withdrawal.last_valid_block_height = last_valid
        withdrawal.save(update_fields=["status", "signature", "last_valid_block_height"])
        audit.record(audit.Action.WITHDRAWAL_APPROVED, actor=_actor(wallet), source=audit.TELEGRAM, user=wallet,
                     withdrawal=withdrawal.pk, destination=plan.destination, lamports=plan.lamports,
                     signature=signature)
    return withdrawal, signed, signature


def _close_requested(withdrawal_id: int, reason: str) -> None:
    """A confirmed request refused at sending (balance spent meanwhile, a guard): it can never be sent later."""
    Withdrawal.objects.filter(pk=withdrawal_id, status=Withdrawal.Status.REQUESTED).update(
        status=Withdrawal.Status.CANCELLED, cancelled_by=f"refused: {reason}"[:150], resolved_at=timezone.now())


def scheduled_withdrawals(wallet: UserWallet, limit: int = 10) -> list[Withdrawal]:
    """A user's delayed withdrawals not sent yet, soonest first (shown in /wallet with Cancel buttons)."""
    return list(Withdrawal.objects.filter(user=wallet, status=Withdrawal.Status.SCHEDULED)
                .order_by("execute_after", "pk")[:limit])


def due_withdrawals(now: datetime) -> list[int]:
    due = Withdrawal.objects.filter(status=Withdrawal.Status.SCHEDULED, held_at__isnull=True, execute_after__lte=now)
    return list(due.order_by("execute_after").values_list("pk", flat=True))


async def execute_scheduled(*, rpc: RpcGateway, keyring: Keyring, withdrawal_id: int,
                            now: datetime) -> tuple[Withdrawal, WithdrawalResult | None, str]:
    """Send a delayed withdrawal whose time has come. Returns the row, the result (None if not sent) and a message
    for the user. A refusal at this point (balance spent meanwhile, a kill switch, the allow-list) fails the row."""
    withdrawal = await Withdrawal.objects.select_related("user").aget(pk=withdrawal_id)
    wallet = withdrawal.user
    if not _is_due(withdrawal, now):
        return withdrawal, None, ""
    # A kill switch holds it: it stays delayed and goes once withdrawals resume (checked first, so a long pause
    # does not write a refusal to the audit log every cycle).
    if await db_call(killswitch.active_switch)(killswitch.Action.WITHDRAWALS, wallet.telegram_user_id):
        return withdrawal, None, ""
    try:
        plan = await plan_withdrawal(rpc=rpc, wallet=wallet, destination=withdrawal.destination,
                                     lamports=withdrawal.lamports, now=now)
    except ActionPaused:
        return withdrawal, None, ""  # paused between the check and the plan
    except WithdrawalError as refusal:
        await db_call(_fail_scheduled)(withdrawal_id, refusal.user_message)
        return withdrawal, None, refusal.user_message
    blockhash, last_valid = await rpc.latest_blockhash()
    signed, signature = _sign(wallet, plan, blockhash, keyring)
    if not await db_call(_start_scheduled)(withdrawal_id, signature, last_valid, now):
        return withdrawal, None, ""  # cancelled or held in the meantime: never sent
    try:
        result = await _land(rpc, withdrawal_id, wallet, plan, signed, signature, last_valid)
    except WithdrawalError as failure:
        return withdrawal, None, failure.user_message
    return withdrawal, result, ""


def _is_due(withdrawal: Withdrawal, now: datetime) -> bool:
    return (withdrawal.status == Withdrawal.Status.SCHEDULED and withdrawal.held_at is None
            and withdrawal.execute_after is not None and withdrawal.execute_after <= now)


def _start_scheduled(withdrawal_id: int, signature: str, last_valid: int, now: datetime) -> bool:
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if not _is_due(withdrawal, now):
            return False
        withdrawal.status = Withdrawal.Status.PENDING
        withdrawal.signature = signature
        withdrawal.last_valid_block_height = last_valid
        withdrawal.save(update_fields=["status", "signature", "last_valid_block_height"])
    audit.record(audit.Action.WITHDRAWAL_APPROVED, actor="bot (delay over)", source=audit.BOT,
                 user=withdrawal.user_id, withdrawal=withdrawal_id, signature=signature)
    return True


def _fail_scheduled(withdrawal_id: int, reason: str) -> None:
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.SCHEDULED:
            return
        withdrawal.status = Withdrawal.Status.FAILED
        withdrawal.error = reason[:2000]
        withdrawal.resolved_at = timezone.now()
        withdrawal.save(update_fields=["status", "error", "resolved_at"])
    audit.record(audit.Action.WITHDRAWAL_FAILED, actor="bot", source=audit.BOT, user=withdrawal.user_id,
                 withdrawal=withdrawal_id, reason=reason[:200])


def cancel_withdrawal(withdrawal_id: int, *, actor: str, source: str, telegram_user_id: int | None = None) -> bool:
    """Cancel a delayed withdrawal before it is sent. With ``telegram_user_id``, only that user's own."""
    with transaction.atomic():
        rows = Withdrawal.objects.select_for_update().filter(pk=withdrawal_id)
        if telegram_user_id is not None:
            rows = rows.filter(user__telegram_user_id=telegram_user_id)
        withdrawal = rows.first()
        if withdrawal is None or withdrawal.status != Withdrawal.Status.SCHEDULED:
            return False
        withdrawal.status = Withdrawal.Status.CANCELLED
        withdrawal.cancelled_by = actor[:150]
        withdrawal.resolved_at = timezone.now()
        withdrawal.save(update_fields=["status", "cancelled_by", "resolved_at"])
    audit.record(audit.Action.WITHDRAWAL_CANCELLED, actor=actor, source=source, user=withdrawal.user_id,
                 withdrawal=withdrawal_id)
    return True


def hold_withdrawal(withdrawal_id: int, *, hold: bool, actor: str, source: str) -> bool:
    """Staff hold (or release) a delayed withdrawal: held, it is never sent until released."""
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().filter(pk=withdrawal_id).first()
        if withdrawal is None or withdrawal.status != Withdrawal.Status.SCHEDULED or (withdrawal.held_at is not None
                                                                                      ) == hold:
            return False
        withdrawal.held_at = timezone.now() if hold else None
        withdrawal.held_by = actor[:150] if hold else ""
        withdrawal.save(update_fields=["held_at", "held_by"])
    audit.record(audit.Action.WITHDRAWAL_HELD if hold else audit.Action.WITHDRAWAL_RELEASED, actor=actor,
                 source=source, user=withdrawal.user_id, withdrawal=withdrawal_id)
    return True


def _sign(wallet: UserWallet, plan: WithdrawalPlan, blockhash: str, keyring: Keyring
          ) -> tuple[VersionedTransaction, str]:
    owner = Pubkey.from_string(wallet.public_key)
    instruction = transfer(TransferParams(from_pubkey=owner, to_pubkey=Pubkey.from_string(plan.destination),
                                          lamports=plan.lamports))
    message = MessageV0.try_compile(owner, [instruction], [], Hash.from_string(blockhash))
    signature = sign_message_bytes(wallet=wallet, message=to_bytes_versioned(message), keyring=keyring)
    return VersionedTransaction.populate(message, [signature]), str(signature)


async def _land(rpc: RpcGateway, withdrawal_id: int, wallet: UserWallet, plan: WithdrawalPlan,
                signed: VersionedTransaction, signature: str, last_valid: int) -> WithdrawalResult:
    try:
        await rpc.send(signed)
    except TransactionRejected as rejected:
        await resolve_withdrawal(withdrawal_id, Withdrawal.Status.FAILED, error=rejected.reason)
        raise WithdrawalError("The network refused the withdrawal; nothing was sent. Please try again.") from None
    except ChainError:
        pass  # it may still land: confirmation decides
    try:
        confirmation = await rpc.confirm(signature, last_valid_block_height=last_valid)
    except ChainError:
        raise WithdrawalError("The withdrawal was sent but the network is not answering; it will be settled "
                              "automatically. Check /wallet in a minute.") from None
    if confirmation.outcome is Outcome.CONFIRMED:
        await resolve_withdrawal(withdrawal_id, Withdrawal.Status.CONFIRMED, fee=plan.fee_lamports,
                                 change=-(plan.lamports + plan.fee_lamports))
        return WithdrawalResult(signature, plan.lamports, plan.fee_lamports, plan.destination)
    landed_fee = plan.fee_lamports if confirmation.outcome is Outcome.FAILED else 0  # a failure that landed paid
    await resolve_withdrawal(withdrawal_id, Withdrawal.Status.FAILED, error=confirmation.error or "expired",
                             fee=landed_fee, change=-landed_fee)
    raise WithdrawalError("The withdrawal did not go through, so nothing was sent. Please try again.")


@db_call
def resolve_withdrawal(withdrawal_id: int, status: str, *, error: str = "", fee: int = 0,
                       change: int = 0) -> Withdrawal | None:
    """Settle a pending withdrawal; None if it was settled already (by the sender or by reconciliation)."""
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.PENDING:
            return None
        withdrawal.status = status
        withdrawal.error = error[:2000]
        withdrawal.fee_lamports = fee
        withdrawal.sol_change_lamports = change
        withdrawal.resolved_at = timezone.now()
        withdrawal.save()
    sent = status == Withdrawal.Status.CONFIRMED
    audit.record(audit.Action.WITHDRAWAL_SENT if sent else audit.Action.WITHDRAWAL_FAILED, actor="bot",
                 source=audit.BOT, user=withdrawal.user_id, withdrawal=withdrawal_id, signature=withdrawal.signature,
                 lamports=withdrawal.lamports, destination=withdrawal.destination, error=error[:200])
    return withdrawal


def _actor(wallet: UserWallet) -> str:
    return audit.trader(wallet.telegram_user_id, wallet.telegram_username)
