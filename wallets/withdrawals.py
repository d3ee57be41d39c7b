"""Withdrawing SOL: plan (checked, shown to the user), then execute (pending row first, send, confirm)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from solders.hash import Hash
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from tradingbot.chain.errors import ChainError, TransactionRejected
from tradingbot.chain.rpc import Outcome, RpcGateway
from tradingbot.db import db_call
from tradingbot.display import sol as _sol
from wallets.crypto import Keyring
from wallets.models import UserWallet, Withdrawal
from wallets.signing import sign_message_bytes

SIGNATURE_FEE_LAMPORTS = 5_000
SYSTEM_ACCOUNT_RENT_LAMPORTS = 890_880  # rent-exempt minimum of a 0-byte system account


class WithdrawalError(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


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


async def plan_withdrawal(*, rpc: RpcGateway, wallet: UserWallet, destination: str,
                          lamports: int | None) -> WithdrawalPlan:
    """Check a withdrawal against the live balance; ``lamports=None`` means everything that can leave."""
    if wallet.is_frozen:
        raise WithdrawalError("Withdrawals are paused on your account by the operators. Contact support.")
    if destination == wallet.public_key:
        raise WithdrawalError("That is this bot wallet's own address. Send to another wallet you control.")
    balance, destination_balance = await asyncio.gather(rpc.sol_balance(wallet.public_key),
                                                        rpc.sol_balance(destination))
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


async def execute_withdrawal(*, rpc: RpcGateway, keyring: Keyring, wallet: UserWallet,
                             plan: WithdrawalPlan) -> WithdrawalResult:
    plan = await plan_withdrawal(rpc=rpc, wallet=wallet, destination=plan.destination, lamports=plan.lamports)
    blockhash, last_valid = await rpc.latest_blockhash()
    owner = Pubkey.from_string(wallet.public_key)
    instruction = transfer(TransferParams(from_pubkey=owner, to_pubkey=Pubkey.from_string(plan.destination),
                                          lamports=plan.lamports))
    message = MessageV0.try_compile(owner, [instruction], [], Hash.from_string(blockhash))
    signature = sign_message_bytes(wallet=wallet, message=to_bytes_versioned(message), keyring=keyring)
    signed = VersionedTransaction.populate(message, [signature])
    withdrawal = await _record_pending(wallet, plan, str(signature), last_valid)
    try:
        await rpc.send(signed)
    except TransactionRejected as rejected:
        await resolve_withdrawal(withdrawal.pk, Withdrawal.Status.FAILED, error=rejected.reason)
        raise WithdrawalError("The network refused the withdrawal; nothing was sent. Please try again.") from None
    except ChainError:
        pass  # it may still land: confirmation decides
    try:
        confirmation = await rpc.confirm(str(signature), last_valid_block_height=last_valid)
    except ChainError:
        raise WithdrawalError("The withdrawal was sent but the network is not answering; it will be settled "
                              "automatically. Check /wallet in a minute.") from None
    if confirmation.outcome is Outcome.CONFIRMED:
        await resolve_withdrawal(withdrawal.pk, Withdrawal.Status.CONFIRMED, fee=plan.fee_lamports,
                       change=-(plan.lamports + plan.fee_lamports))
        return WithdrawalResult(str(signature), plan.lamports, plan.fee_lamports, plan.destination)
    landed_fee = plan.fee_lamports if confirmation.outcome is Outcome.FAILED else 0  # a failure that landed paid
    await resolve_withdrawal(withdrawal.pk, Withdrawal.Status.FAILED, error=confirmation.error or "expired",
                             fee=landed_fee, change=-landed_fee)
    raise WithdrawalError("The withdrawal did not go through, so nothing was sent. Please try again.")


@db_call
def _record_pending(wallet: UserWallet, plan: WithdrawalPlan, signature: str, last_valid: int) -> Withdrawal:
    return Withdrawal.objects.create(user=wallet, destination=plan.destination, lamports=plan.lamports,
                                     signature=signature, last_valid_block_height=last_valid)


@db_call
def resolve_withdrawal(withdrawal_id: int, status: str, *, error: str = "", fee: int = 0, change: int = 0) -> None:
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != Withdrawal.Status.PENDING:
            return
        withdrawal.status = status
        withdrawal.error = error[:2000]
        withdrawal.fee_lamports = fee
        withdrawal.sol_change_lamports = change
        withdrawal.resolved_at = timezone.now()
        withdrawal.save()
