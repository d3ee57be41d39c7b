"""Withdrawals in the database: each function one short transaction, the chain never called here (the chain side,
planning against the live balance, sending and confirming, is ``custody.money_out``).

A withdrawal is requested (the row a confirmation button points at), then committed under the user's row lock
(scheduled when the delay policy says so, or signed and written as pending before anything is sent), then resolved
from the chain, by the sender or by reconciliation. Every step is in the audit log, with the ``source`` that asked
for it (Telegram, the admin, a command)."""

from __future__ import annotations

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
from kernel.db import db_call
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


def check_guards(wallet: UserWallet, destination: str, now: datetime, source: str) -> None:
    """Freeze, kill switch, allow-list: each refusal is audited and raised (WithdrawalError or ActionPaused)."""
    def refused(reason: str) -> None:
        audit.record(audit.Action.WITHDRAWAL_REFUSED, actor=_actor(wallet), source=source, user=wallet,
                     destination=destination, reason=reason)

    wallet.refresh_from_db(fields=["is_frozen"])
    if wallet.is_frozen:
        refused("wallet frozen")
        raise WithdrawalError(WithdrawalError.Reason.FROZEN)
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


def ensure_key_export_allowed(wallet: UserWallet, now: datetime, source: str) -> None:
    """Whoever holds the key can move everything, anywhere, at once: so export passes the guards a withdrawal passes
    (freeze, kill switch), and waits while the user's own withdrawal protection is on, since the key walks around
    it. Switching that protection off takes the safety delay, which is the point."""
    wallet.refresh_from_db(fields=["is_frozen"])
    if wallet.is_frozen:
        raise WithdrawalError(WithdrawalError.Reason.EXPORT_FROZEN)
    killswitch.ensure_allowed(killswitch.Action.WITHDRAWALS, wallet.telegram_user_id)
    view = current(wallet, now)
    protections = tuple(name for name, on in (("allowlist", view.allowlist_on),
                                              ("withdraw_delay", view.threshold_lamports is not None)) if on)
    if protections:
        audit.record(audit.Action.KEY_EXPORT_REFUSED, actor=_actor(wallet), source=source, user=wallet,
                     reason=" and ".join(protections))
        raise WithdrawalError(WithdrawalError.Reason.EXPORT_PROTECTED, protections=protections)


@db_call
def request_withdrawal(*, wallet: UserWallet, plan: WithdrawalPlan, source: str) -> Withdrawal:
    """The row a confirmation button points at. The destination and amount the user confirms are read back from
    here, never from the shared cache, so whoever can write to the cache cannot redirect a withdrawal."""
    audit.record(audit.Action.WITHDRAWAL_REQUESTED, actor=_actor(wallet), source=source, user=wallet,
                 destination=plan.destination, lamports=plan.lamports)
    Withdrawal.objects.filter(user=wallet, status=Withdrawal.Status.REQUESTED,
                              created_at__lt=timezone.now() - REQUEST_TTL).update(
        status=Withdrawal.Status.CANCELLED, cancelled_by="not confirmed in time", resolved_at=timezone.now())
    return Withdrawal.objects.create(user=wallet, destination=plan.destination, lamports=plan.lamports,
                                     status=Withdrawal.Status.REQUESTED)


def requested(wallet: UserWallet, withdrawal_id: int) -> Withdrawal:
    """The user's own request, still awaiting its button; refused when it expired or was answered."""
    withdrawal = Withdrawal.objects.filter(pk=withdrawal_id, user=wallet, status=Withdrawal.Status.REQUESTED,
                                           created_at__gte=timezone.now() - REQUEST_TTL).first()
    if withdrawal is None:
        raise WithdrawalError(WithdrawalError.Reason.REQUEST_EXPIRED)
    return withdrawal


def commit_withdrawal(wallet: UserWallet, withdrawal_id: int, plan: WithdrawalPlan, blockhash: str, last_valid: int,
                      keyring: Keyring, now: datetime, delay_seconds: int, source: str
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
            raise WithdrawalError(WithdrawalError.Reason.ALREADY_ANSWERED)
        if (plan.destination, plan.lamports) != (withdrawal.destination, withdrawal.lamports):
            raise WithdrawalError(WithdrawalError.Reason.MISMATCH)
        if needs_delay(wallet, withdrawal.lamports, now):
            withdrawal.status = Withdrawal.Status.SCHEDULED
            withdrawal.execute_after = now + timedelta(seconds=delay_seconds)
            withdrawal.save(update_fields=["status", "execute_after"])
            audit.record(audit.Action.WITHDRAWAL_SCHEDULED, actor=_actor(wallet), source=source, user=wallet,
                         withdrawal=withdrawal.pk, destination=withdrawal.destination, lamports=withdrawal.lamports,
                         execute_after=withdrawal.execute_after.isoformat())
            return withdrawal, None, None
        signed, signature = sign(wallet, plan, blockhash, keyring)
        withdrawal.status = Withdrawal.Status.PENDING
        withdrawal.signature = signature
        withdrawal.last_valid_block_height = last_valid
        withdrawal.signed_transaction = bytes(signed)
        withdrawal.save(update_fields=["status", "signature", "last_valid_block_height", "signed_transaction"])
        audit.record(audit.Action.WITHDRAWAL_APPROVED, actor=_actor(wallet), source=source, user=wallet,
                     withdrawal=withdrawal.pk, destination=plan.destination, lamports=plan.lamports,
                     signature=signature)
    return withdrawal, signed, signature


def close_requested(withdrawal_id: int, reason: str) -> None:
    """A confirmed request refused at sending (balance spent meanwhile, a guard): it can never be sent later."""
    Withdrawal.objects.filter(pk=withdrawal_id, status=Withdrawal.Status.REQUESTED).update(
        status=Withdrawal.Status.CANCELLED, cancelled_by=f"refused: {reason}"[:150], resolved_at=timezone.now())


def is_due(withdrawal: Withdrawal, now: datetime) -> bool:
    return (withdrawal.status == Withdrawal.Status.SCHEDULED and withdrawal.held_at is None
            and withdrawal.execute_after is not None and withdrawal.execute_after <= now)


def start_scheduled(withdrawal_id: int, signed: VersionedTransaction, last_valid: int, now: datetime) -> bool:
    signature = str(signed.signatures[0])
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if not is_due(withdrawal, now):
            return False
        withdrawal.status = Withdrawal.Status.PENDING
        withdrawal.signature = signature
        withdrawal.last_valid_block_height = last_valid
        withdrawal.signed_transaction = bytes(signed)
        withdrawal.save(update_fields=["status", "signature", "last_valid_block_height", "signed_transaction"])
    audit.record(audit.Action.WITHDRAWAL_APPROVED, actor="bot (delay over)", source=audit.BOT,
                 user=withdrawal.user_id, withdrawal=withdrawal_id, signature=signature)
    return True


def fail_scheduled(withdrawal_id: int, reason: str) -> None:
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


def sign(wallet: UserWallet, plan: WithdrawalPlan, blockhash: str, keyring: Keyring
          ) -> tuple[VersionedTransaction, str]:
    owner = Pubkey.from_string(wallet.public_key)
    instruction = transfer(TransferParams(from_pubkey=owner, to_pubkey=Pubkey.from_string(plan.destination),
                                          lamports=plan.lamports))
    message = MessageV0.try_compile(owner, [instruction], [], Hash.from_string(blockhash))
    signature = sign_message_bytes(wallet=wallet, message=to_bytes_versioned(message), keyring=keyring)
    return VersionedTransaction.populate(message, [signature]), str(signature)


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
