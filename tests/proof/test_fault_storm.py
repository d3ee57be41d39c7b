"""Faults during trading, through the real bot: RPC and Jupiter latency, 429s, 5xx, requests that hang past the
client's timeout, and dropped transactions, one per trade, while the chain keeps producing blocks. Every trade ends
confirmed or cleanly failed, the trader is told which (never the generic apology), and after reconciliation the
ledger equals the chain. Short in ``make test``; 100 trades with ``make proof``. The figures, with the database,
are recorded once the module is done, as "pass" only if its test passed."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import pytest_asyncio
from django.db import connection
from django.db.models import Sum

from positions.models import Position, Trade
from positions.reconcile import reconcile_pending
from telegrambot import texts
from tests.e2e.conftest import Chat, running_bot
from tests.proof.outcomes import record_module
from tests.proof.scale import scaled
from wallets.models import UserWallet

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
FAULTS = ("none", "rpc-latency", "jupiter-latency", "rpc-429", "rpc-5xx", "jupiter-429", "jupiter-5xx-outage",
          "rpc-hang", "jupiter-hang", "dropped-transaction", "rpc-outage-while-confirming")


@pytest.fixture(scope="module")
def figures(request):
    figures: dict = {}
    yield figures
    record_module(request, "faults", database=connection.vendor, **figures,
                  result="pass: every trade confirmed or cleanly failed, nothing lost")


@pytest_asyncio.fixture
async def storm_bot(bot_config, transactional_db):
    from dataclasses import replace

    async with running_bot(replace(bot_config, rpc_timeout_seconds=1)) as runner:
        yield runner


class BlockProducer:
    """The chain keeps moving while we trade, so a dropped transaction's blockhash really expires."""

    def __init__(self, chain) -> None:
        self._chain, self._stop = chain, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._chain.advance_blocks(2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _inject(localnet, fault: str, rng: random.Random) -> None:
    rpc, jupiter = localnet.rpc.faults, localnet.jupiter.faults
    if fault == "rpc-latency":
        rpc.latency_ms = rng.randrange(50, 250)
    elif fault == "jupiter-latency":
        jupiter.latency_ms = rng.randrange(50, 400)
    elif fault == "rpc-429":
        rpc.fail_next(2, status=429, retry_after=0)
    elif fault == "rpc-5xx":
        rpc.fail_next(2, status=503)
    elif fault == "jupiter-429":
        jupiter.fail_next(1, status=429, retry_after=0)
    elif fault == "jupiter-5xx-outage":
        jupiter.fail_next(10, status=502)
    elif fault == "rpc-hang":
        rpc.hang_next(1, seconds=1.5)
    elif fault == "jupiter-hang":
        jupiter.hang_next(1, seconds=1.5)
    elif fault == "dropped-transaction":
        localnet.chain.drop_next_transactions(1)
    elif fault == "rpc-outage-while-confirming":  # sent, then the status cannot be read: handed to reconciliation
        rpc.fail_next(20, status=503, only="getSignatureStatuses")


FOLLOW_UP = "which was waiting for the network"  # reconciliation telling how a handed-over trade ended


async def _answer(chat, command: str) -> dict:
    """The command's final answer: progress edits are followed, follow-ups about earlier trades set aside."""
    await chat.telegram.send_text(chat.user_id, command)
    while True:
        message = await chat.telegram.next_reply(chat.user_id, timeout=120)
        if not (message["text"].startswith("⏳") or FOLLOW_UP in message["text"]):
            return message


def _outcome(text: str) -> str:
    if "Bought" in text or "Sold" in text:
        return "confirmed"
    if "settled automatically" in text:
        return "settled later"
    return "cleanly failed"


async def test_every_trade_ends_confirmed_or_cleanly_failed_under_faults(storm_bot, telegram, localnet, figures):
    trades = scaled(len(FAULTS), 100)
    rng = random.Random(8)
    chat = Chat(telegram, 830_001)
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    localnet.chain.airdrop(wallet.public_key, 50 * SOL)
    mints = [localnet.token(symbol).mint for symbol in ("BONK", "WIF", "JUP")]
    outcomes: Counter = Counter()
    handed_over: list[int] = []  # trades the bot said would be "settled automatically"
    by_fault: dict[str, Counter] = {fault: Counter() for fault in FAULTS}
    started = time.monotonic()
    with BlockProducer(localnet.chain):
        for index in range(trades):
            fault = FAULTS[index % len(FAULTS)]
            held = [mint async for mint in Position.objects.filter(user=wallet, is_open=True)
                    .values_list("token_mint", flat=True)]
            command = (f"/sell {rng.choice(held)} {rng.choice(('50%', 'all'))}" if held and rng.random() < 0.4
                       else f"/buy {rng.choice(mints)} {rng.randrange(1, 5) / 100}")
            last = await Trade.objects.filter(user=wallet).order_by("-pk").values_list("pk", flat=True).afirst()
            _inject(localnet, fault, rng)
            final = await _answer(chat, command)
            localnet.clear_faults()
            assert texts.SERVICE_PROBLEM not in final["text"] and "Traceback" not in final["text"], final["text"]
            outcome = _outcome(final["text"])
            outcomes[outcome] += 1
            by_fault[fault][outcome] += 1
            # What the trader was told is what the ledger says.
            trade = await Trade.objects.filter(user=wallet, pk__gt=last or 0).afirst()
            if outcome == "confirmed":
                assert trade is not None and trade.status == "confirmed", (final["text"], trade)
            elif outcome == "cleanly failed":
                assert trade is None or trade.status == "failed", (final["text"], trade and trade.status)
            else:
                assert trade is not None, final["text"]
                handed_over.append(trade.pk)
        localnet.chain.advance_blocks(200)
        told = []

        async def tell(settled) -> None:
            told.append(settled)

        report = await reconcile_pending(storm_bot.rpc, notify=tell)
    assert not await Trade.objects.filter(status="pending").aexists()
    # Every trade handed over to reconciliation was followed by a message saying how it ended, and only those.
    follow_ups = sum(FOLLOW_UP in m.get("text", "") for m in telegram.messages(chat.user_id)
                     if m.get("from", {}).get("is_bot"))
    assert follow_ups + len(told) == len(handed_over), (follow_ups, len(told), handed_over)
    flows = await Trade.objects.filter(user=wallet).aaggregate(total=Sum("sol_change_lamports"))
    assert localnet.chain.sol_balance(wallet.public_key) == 50 * SOL + (flows["total"] or 0)
    open_raw = {mint: 0 for mint in mints}
    async for position in Position.objects.filter(user=wallet, is_open=True):
        open_raw[position.token_mint] += position.remaining_amount_raw
    for mint, raw in open_raw.items():
        assert localnet.chain.token_balance(wallet.public_key, mint) == raw, mint
    figures.update(trades=trades, summary=f"{trades} trades under {len(FAULTS) - 1} kinds of fault: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
                   + f"; {report.confirmed + report.failed + report.expired} settled by the final reconciliation, "
                   f"{len(handed_over)} handed over and each followed by its outcome; every answer matched the "
                   "ledger; "
                   f"0 generic errors; {time.monotonic() - started:.0f} s",
                   outcomes=dict(outcomes), settled_by_reconcile=report.confirmed + report.failed
                   + report.expired, by_fault={fault: dict(counts) for fault, counts in by_fault.items()},
                   lost=0, generic_errors=0, seconds=round(time.monotonic() - started, 1))
