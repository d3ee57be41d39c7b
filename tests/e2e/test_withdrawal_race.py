"""The large-withdrawal delay holds when withdrawals race: the policy is checked and the withdrawal written in one
transaction under the user's row lock, before anything is signed. An attack review sent three 0.9 SOL withdrawals
at once under a 1 SOL threshold, through three workers, and all three left at once."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections
from django.utils import timezone
from solders.hash import Hash

from custody.models import AuditEvent
from custody.money_out import MoneyOut, WithdrawalScheduled
from custody.policy import set_threshold
from custody.withdrawals import WithdrawalPlan, WithdrawalResult, commit_withdrawal, request_withdrawal
from tests.e2e.conftest import make_trader
from wallets.crypto import Keyring
from wallets.models import Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
PIECE = 9 * SOL // 10  # 0.9 SOL, under the 1 SOL threshold on its own


async def test_three_withdrawals_at_once_under_the_threshold_send_one_and_delay_the_rest(engine, localnet):
    trader = await make_trader(engine, localnet, sol=5)
    await sync_to_async(set_threshold)(trader.wallet, SOL, now=timezone.now(), delay_seconds=0, source="test")
    destination = str(localnet.funded_keypair(sol=1).pubkey())
    before = localnet.chain.sol_balance(destination)
    money_out = MoneyOut(rpc=engine.rpc, keyring=engine.keyring,
                         policy=replace(engine.config.custody, large_withdrawal_delay_seconds=7200))
    now = timezone.now()
    plan = await money_out.plan(trader.wallet, destination=destination, lamports=PIECE, now=now, source="test")

    outcomes = await asyncio.gather(*(money_out.withdraw(trader.wallet, plan, now=now, source="test")
                                      for _ in range(3)))

    sent = [o for o in outcomes if isinstance(o, WithdrawalResult)]
    delayed = [o.withdrawal for o in outcomes if isinstance(o, WithdrawalScheduled)]
    assert len(sent) == 1 and len(delayed) == 2
    assert localnet.chain.sol_balance(destination) == before + PIECE  # only what the threshold allows left
    statuses = sorted([s async for s in Withdrawal.objects.filter(user=trader.wallet).values_list("status", flat=True)])
    assert statuses == ["confirmed", "scheduled", "scheduled"]
    assert all(w.execute_after is not None and w.signature is None for w in delayed)
    actions = [a async for a in AuditEvent.objects.filter(user=trader.wallet).values_list("action", flat=True)]
    assert actions.count("withdrawal_scheduled") == 2 and actions.count("withdrawal_sent") == 1


def test_workers_deciding_at_the_same_instant_let_one_withdrawal_through(postgres_only, keyring: Keyring):
    """Threads stand for workers: each its own connection, all checking the policy at once on PostgreSQL."""
    from custody.services import get_or_create_user_wallet

    wallet = get_or_create_user_wallet(880_001, "racer").wallet
    now = timezone.now()
    set_threshold(wallet, SOL, now=now, delay_seconds=0, source="test")
    # Distinct amounts, so that no two transactions are identical (one signature could then be written only once).
    plans = [WithdrawalPlan(destination="9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", lamports=PIECE - index,
                            fee_lamports=5000, balance_lamports=10 * SOL) for index in range(4)]
    requests = [async_to_sync(request_withdrawal)(wallet=wallet, plan=plan, source="test") for plan in plans]
    barrier = threading.Barrier(len(requests))
    signed, errors = [], []

    def worker(withdrawal: Withdrawal, plan: WithdrawalPlan) -> None:
        try:
            barrier.wait()
            _, transaction, _ = commit_withdrawal(wallet, withdrawal.pk, plan, str(Hash.default()), 100, keyring,
                                                  now, 7200, "test")
            signed.append(transaction is not None)
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(requests, plans, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(signed) == 1  # only one transaction was ever signed
    rows = Withdrawal.objects.filter(user=wallet)
    assert sorted(rows.values_list("status", flat=True)) == ["pending", "scheduled", "scheduled", "scheduled"]
    assert all(w.execute_after >= now + timedelta(seconds=7200) for w in rows.filter(status="scheduled"))
    assert AuditEvent.objects.filter(user=wallet, action="withdrawal_scheduled").count() == 3
