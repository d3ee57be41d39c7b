"""Money leaving a wallet: withdrawals and key export, in the shape of trading.

``MoneyOut`` is to money leaving what ``positions.trading.TradingService`` is to trades: the one place that mixes
the chain and the database for it. The database side is ``custody.withdrawals`` (one short transaction each); here a
withdrawal is planned against the live balance, committed under the user's lock (scheduled, or signed and written as
pending before anything is sent), sent and confirmed. Every method takes the ``source`` that asked (Telegram, the
admin, a command) for the audit log, and returns a result dataclass; refusals raise a ``UserFacingError`` subclass
(``WithdrawalError``, ``ActionPaused``, ``CodeRefused``…) and change nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from custody import audit, killswitch, second_factor, selectors
from custody.errors import ActionPaused, WithdrawalError
from custody.policy import needs_delay
from custody.withdrawals import (
    SIGNATURE_FEE_LAMPORTS,
    SYSTEM_ACCOUNT_RENT_LAMPORTS,
    WithdrawalPlan,
    WithdrawalResult,
    check_guards,
    close_requested,
    commit_withdrawal,
    ensure_key_export_allowed,
    fail_scheduled,
    is_due,
    request_withdrawal,
    requested,
    resolve_withdrawal,
    sign,
    start_scheduled,
)
from kernel.chain.errors import ChainError, TransactionRejected
from kernel.chain.rpc import Outcome, RpcGateway
from kernel.config import CustodyPolicy
from kernel.db import db_call
from kernel.errors import UserFacingError
from wallets.crypto import Keyring
from wallets.models import UserWallet, Withdrawal
from wallets.selectors import wallet_of
from wallets.signing import export_secret_base58


@dataclass(frozen=True)
class WithdrawalRequest:
    """A withdrawal checked and written as requested, awaiting the user's button."""

    plan: WithdrawalPlan
    withdrawal_id: int
    two_factor: bool  # the button will ask for a code
    first_withdrawal: bool
    delay_seconds: int | None  # set when the delay policy will hold it that long after the button


@dataclass(frozen=True)
class WithdrawalScheduled:
    """Confirmed, and held by the user's delay policy: nothing has left yet, and it can be cancelled."""

    withdrawal: Withdrawal


@dataclass(frozen=True)
class DueOutcome:
    """A delayed withdrawal whose time came: sent (``result``), refused at sending (``refusal``), or neither
    (paused, cancelled or held meanwhile: it waits, silently)."""

    withdrawal: Withdrawal
    result: WithdrawalResult | None = None
    refusal: WithdrawalError | None = None


class MoneyOut:
    def __init__(self, *, rpc: RpcGateway, keyring: Keyring, policy: CustodyPolicy) -> None:
        self.rpc = rpc
        self.keyring = keyring
        self.policy = policy

    # Withdrawals, as the user lives them: request (checked, shown), then confirm (the button, and the code).

    async def request_withdrawal(self, *, telegram_user_id: int, destination: str, lamports: int | None,
                                 now: datetime, source: str) -> WithdrawalRequest:
        wallet = await _wallet(telegram_user_id)
        await db_call(second_factor.ensure_not_locked)(wallet, now)
        plan = await self.plan(wallet, destination=destination, lamports=lamports, now=now, source=source)
        row = await request_withdrawal(wallet=wallet, plan=plan, source=source)
        two_factor, first, delayed = await db_call(_guards)(wallet, plan.lamports, now)
        return WithdrawalRequest(plan=plan, withdrawal_id=row.pk, two_factor=two_factor, first_withdrawal=first,
                                 delay_seconds=self.policy.large_withdrawal_delay_seconds if delayed else None)

    async def will_wait(self, *, telegram_user_id: int, withdrawal_id: int, now: datetime) -> bool:
        """Whether the confirmed withdrawal will most likely be delayed (a guess, for the first message)."""
        return await db_call(selectors.will_wait)(await _wallet(telegram_user_id), withdrawal_id, now)

    async def confirm_withdrawal(self, *, telegram_user_id: int, withdrawal_id: int, now: datetime,
                                 source: str) -> WithdrawalResult | WithdrawalScheduled:
        return await self.confirm(await _wallet(telegram_user_id), withdrawal_id, now=now, source=source)

    # The same steps for a wallet in hand (the steps above, scripts, the proofs).

    async def plan(self, wallet: UserWallet, *, destination: str, lamports: int | None, now: datetime,
                   source: str) -> WithdrawalPlan:
        """Check a withdrawal against the guards and the live balance; ``lamports=None`` means everything that can
        leave."""
        await db_call(check_guards)(wallet, destination, now, source)
        if destination == wallet.public_key:
            raise WithdrawalError(WithdrawalError.Reason.OWN_ADDRESS)
        balance, (destination_balance, is_wallet) = await asyncio.gather(self.rpc.sol_balance(wallet.public_key),
                                                                         self.rpc.account_kind(destination))
        if not is_wallet:
            raise WithdrawalError(WithdrawalError.Reason.NOT_A_WALLET)
        fee = SIGNATURE_FEE_LAMPORTS
        withdrawable = balance - fee
        if lamports is None:
            lamports = withdrawable
        if lamports <= 0:
            raise WithdrawalError(WithdrawalError.Reason.NOTHING_TO_WITHDRAW, balance=balance, fee=fee)
        if lamports > withdrawable:
            raise WithdrawalError(WithdrawalError.Reason.OVER_BALANCE, withdrawable=max(withdrawable, 0),
                                  balance=balance, fee=fee)
        left = withdrawable - lamports
        if 0 < left < SYSTEM_ACCOUNT_RENT_LAMPORTS:
            raise WithdrawalError(WithdrawalError.Reason.DUST_LEFT, left=left, rent=SYSTEM_ACCOUNT_RENT_LAMPORTS)
        if destination_balance == 0 and lamports < SYSTEM_ACCOUNT_RENT_LAMPORTS:
            raise WithdrawalError(WithdrawalError.Reason.DESTINATION_NEEDS_RENT, rent=SYSTEM_ACCOUNT_RENT_LAMPORTS)
        return WithdrawalPlan(destination=destination, lamports=lamports, fee_lamports=fee, balance_lamports=balance)

    async def confirm(self, wallet: UserWallet, withdrawal_id: int, *, now: datetime,
                      source: str) -> WithdrawalResult | WithdrawalScheduled:
        """Send the withdrawal the user confirmed, or delay it when the policy says so. Checked again (guards,
        balance), then the policy is checked, the transaction signed and the row written in one database
        transaction holding the user's row lock; only after that is anything sent."""
        row = await db_call(requested)(wallet, withdrawal_id)
        try:
            plan = await self.plan(wallet, destination=row.destination, lamports=row.lamports, now=now,
                                   source=source)
            blockhash, last_valid = await self.rpc.latest_blockhash()
            withdrawal, signed, signature = await db_call(commit_withdrawal)(
                wallet, withdrawal_id, plan, blockhash, last_valid, self.keyring, now,
                self.policy.large_withdrawal_delay_seconds, source)
        except Exception as err:
            # For staff (the row's "cancelled by"): the error's operator detail, or its type.
            await db_call(close_requested)(withdrawal_id, str(err) if isinstance(err, UserFacingError)
                                           else type(err).__name__)
            raise
        if signed is None:
            return WithdrawalScheduled(withdrawal)
        return await self._land(withdrawal_id, plan, signed, signature, last_valid)

    async def withdraw(self, wallet: UserWallet, plan: WithdrawalPlan, *, now: datetime,
                       source: str) -> WithdrawalResult | WithdrawalScheduled:
        """Request and confirm at once (scripts, the proofs): sent, or delayed when the policy says so."""
        row = await request_withdrawal(wallet=wallet, plan=plan, source=source)
        return await self.confirm(wallet, row.pk, now=now, source=source)

    async def send_due(self, withdrawal_id: int, *, now: datetime) -> DueOutcome:
        """Send a delayed withdrawal whose time has come. A refusal at this point (balance spent meanwhile, the
        allow-list) fails the row; a kill switch holds it until withdrawals resume."""
        withdrawal = await Withdrawal.objects.select_related("user").aget(pk=withdrawal_id)
        wallet = withdrawal.user
        if not is_due(withdrawal, now):
            return DueOutcome(withdrawal)
        # Checked first, so a long pause does not write a refusal to the audit log every cycle.
        if await db_call(killswitch.active_switch)(killswitch.Action.WITHDRAWALS, wallet.telegram_user_id):
            return DueOutcome(withdrawal)
        try:
            plan = await self.plan(wallet, destination=withdrawal.destination, lamports=withdrawal.lamports, now=now,
                                   source=audit.BOT)
        except ActionPaused:
            return DueOutcome(withdrawal)  # paused between the check and the plan
        except WithdrawalError as refusal:
            await db_call(fail_scheduled)(withdrawal_id, str(refusal))
            return DueOutcome(withdrawal, refusal=refusal)
        blockhash, last_valid = await self.rpc.latest_blockhash()
        signed, signature = sign(wallet, plan, blockhash, self.keyring)
        if not await db_call(start_scheduled)(withdrawal_id, signed, last_valid, now):
            return DueOutcome(withdrawal)  # cancelled or held in the meantime: never sent
        try:
            result = await self._land(withdrawal_id, plan, signed, signature, last_valid)
        except WithdrawalError as failure:
            return DueOutcome(withdrawal, refusal=failure)
        return DueOutcome(withdrawal, result=result)

    async def _land(self, withdrawal_id: int, plan: WithdrawalPlan, signed, signature: str,
                    last_valid: int) -> WithdrawalResult:
        try:
            confirmation = await self.rpc.land(signed, last_valid_block_height=last_valid)
        except TransactionRejected as rejected:
            await resolve_withdrawal(withdrawal_id, Withdrawal.Status.FAILED, error=rejected.reason)
            raise WithdrawalError(WithdrawalError.Reason.NETWORK_REFUSED) from None
        except ChainError:
            raise WithdrawalError(WithdrawalError.Reason.NOT_ANSWERING) from None
        if confirmation.outcome is Outcome.CONFIRMED:
            await resolve_withdrawal(withdrawal_id, Withdrawal.Status.CONFIRMED, fee=plan.fee_lamports,
                                     change=-(plan.lamports + plan.fee_lamports))
            return WithdrawalResult(signature, plan.lamports, plan.fee_lamports, plan.destination)
        landed_fee = plan.fee_lamports if confirmation.outcome is Outcome.FAILED else 0  # a failure that landed paid
        await resolve_withdrawal(withdrawal_id, Withdrawal.Status.FAILED, error=confirmation.error or "expired",
                                 fee=landed_fee, change=-landed_fee)
        raise WithdrawalError(WithdrawalError.Reason.DID_NOT_GO_THROUGH)

    # Key export: whoever holds the key can move everything, so it passes a withdrawal's guards first.

    async def check_key_export(self, *, telegram_user_id: int, now: datetime, source: str) -> None:
        """Refuse now (before the warning and its button) what ``export_key`` would refuse."""
        wallet = await _wallet(telegram_user_id)
        await db_call(ensure_key_export_allowed)(wallet, now, source)
        await db_call(second_factor.ensure_not_locked)(wallet, now)

    async def export_key(self, *, telegram_user_id: int, now: datetime, source: str,
                         deliver: Callable[[str], Awaitable[object]]) -> None:
        """Decrypt the key and hand it to ``deliver`` (which shows it to its owner); it is never kept or logged,
        and the export is audited once delivered."""
        wallet = await _wallet(telegram_user_id)
        await db_call(ensure_key_export_allowed)(wallet, now, source)  # again: time has passed since the button
        secret = export_secret_base58(wallet=wallet, keyring=self.keyring)
        try:
            await deliver(secret)
        finally:
            del secret
        await db_call(audit.record)(audit.Action.KEY_EXPORTED, actor=audit.trader(wallet.telegram_user_id,
                                                                                  wallet.telegram_username),
                                    source=source, user=wallet)


async def _wallet(telegram_user_id: int) -> UserWallet:
    return await db_call(wallet_of)(telegram_user_id)


def _guards(wallet: UserWallet, lamports: int, now: datetime) -> tuple[bool, bool, bool]:
    """Whether the button will ask for a code, whether this is the user's first withdrawal, whether it will wait."""
    return second_factor.is_enabled(wallet), selectors.is_first_withdrawal(wallet), needs_delay(wallet, lamports, now)
