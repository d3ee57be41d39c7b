"""localnet as hostile as mainnet: each knob of localnet.hostile, through solana-py's real client (and, where cheap,
the bot's own gateway). Every test builds its own localnet: the knobs would disturb the shared one."""

import asyncio
import json
import time

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.compute_budget import set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.rpc.errors import MinContextSlotNotReachedMessage, NodeUnhealthyMessage
from solders.rpc.responses import GetBalanceResp
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus

from kernel.chain.rpc import Outcome, RpcGateway
from localnet import Localnet
from localnet.hostile import FINALIZED_DEPTH, Knobs

SOL = 10**9


@pytest.fixture
def hostile():
    """Start a localnet with the given knobs (no tokens unless ``tokens=True``); stopped after the test."""
    started = []

    def start(*, tokens: bool = False, **knobs) -> Localnet:
        network = Localnet.start(tokens=tokens, **knobs)
        started.append(network)
        return network

    yield start
    for network in started:
        network.stop()


def _transfer(payer: Keypair, blockhash: str, *, lamports: int = SOL // 10, unit_price: int | None = None) -> bytes:
    instructions = [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(),
                                            lamports=lamports))]
    if unit_price is not None:
        instructions.insert(0, set_compute_unit_price(unit_price))
    message = MessageV0.try_compile(payer.pubkey(), instructions, [], Hash.from_string(blockhash))
    return bytes(VersionedTransaction(message, [payer]))


async def _blockhash(client) -> str:
    return str((await client.get_latest_blockhash()).value.blockhash)


async def _until(predicate, *, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


# By default: the bad luck is off, mainnet's rules are on.

def test_every_knob_of_bad_luck_is_off_by_default_and_mainnets_limits_are_on(localnet):
    knobs = localnet.knobs
    assert knobs.slot_ms is None and not localnet.chain.clock_running and knobs.strict_limits
    assert (knobs.lag_slots, knobs.lag_error_rate, knobs.priority_fee_level, knobs.underpriced_drop_rate) == (
        0, 0.0, 0, 0.0)
    assert knobs.jupiter_rpm is None


# 1. The slot clock.

async def test_blocks_advance_on_their_own_and_a_blockhash_expires_in_real_time(hostile):
    network = hostile(slot_ms=2)
    payer = network.funded_keypair(sol=1)
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        first = (await client.get_block_height()).value
        old = await _blockhash(client)
        await _until(lambda: _height_above(client, first + 151))
        with pytest.raises(RPCException) as caught:
            await client.send_raw_transaction(_transfer(payer, old))
        assert "Blockhash not found" in str(caught.value)
        assert await _blockhash(client) != old
    assert network.chain.sol_balance(payer.pubkey()) == SOL


async def _height_above(client, height: int) -> bool:
    return (await client.get_block_height()).value > height


async def test_statuses_go_processed_confirmed_finalized_with_mainnet_confirmations(hostile):
    network = hostile(slot_ms=250)
    payer = network.funded_keypair(sol=1)
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        signature = (await client.send_raw_transaction(_transfer(payer, await _blockhash(client)))).value
        status = (await client.get_signature_statuses([signature])).value[0]
        assert status.confirmation_status == TransactionConfirmationStatus.Processed
        assert status.confirmations in (0, 1)
        # getTransaction answers at confirmed at the least: not yet
        assert (await client.get_transaction(signature, max_supported_transaction_version=0)).value is None
        network.start_slot_clock(5)  # speed up to finalization

        async def seen(wanted):
            value = (await client.get_signature_statuses([signature])).value[0]
            return value if value.confirmation_status == wanted else None

        confirmed = await _until(lambda: seen(TransactionConfirmationStatus.Confirmed))
        assert 2 <= confirmed.confirmations < FINALIZED_DEPTH and confirmed.slot == status.slot
        assert (await client.get_transaction(signature, max_supported_transaction_version=0)).value is not None
        finalized = await _until(lambda: seen(TransactionConfirmationStatus.Finalized))
        assert finalized.confirmations is None and finalized.err is None


async def test_transactions_share_the_current_slot_under_the_clock(hostile):
    network = hostile(slot_ms=1000)
    payer = network.funded_keypair(sol=1)
    slot = network.chain.slot
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        blockhash = await _blockhash(client)
        signatures = [(await client.send_raw_transaction(_transfer(payer, blockhash, lamports=SOL // 10 + i))).value
                      for i in range(3)]
        statuses = (await client.get_signature_statuses(signatures)).value
    assert {s.slot for s in statuses} <= {slot, slot + 1}  # the clock, not the transactions, makes blocks


async def test_the_bots_gateway_confirms_under_the_slot_clock(hostile):
    network = hostile(slot_ms=5)
    payer = network.funded_keypair(sol=1)
    rpc = RpcGateway(network.rpc_url)
    try:
        async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
            answer = (await client.get_latest_blockhash()).value
        transaction = VersionedTransaction.from_bytes(_transfer(payer, str(answer.blockhash)))
        confirmation = await rpc.land(transaction, last_valid_block_height=answer.last_valid_block_height)
    finally:
        await rpc.close()
    assert confirmation.outcome == Outcome.CONFIRMED


# 2. Mainnet's limits.

async def test_more_than_256_signatures_is_refused_as_mainnet_does(hostile):
    network = hostile(strict_limits=True)
    signatures = [Signature.new_unique() for _ in range(257)]
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        assert len((await client.get_signature_statuses(signatures[:256])).value) == 256
        with pytest.raises(RPCException) as caught:
            await client.get_signature_statuses(signatures)
    assert "Too many inputs provided; max 256" in str(caught.value)


async def test_a_v0_transaction_needs_max_supported_transaction_version(hostile):
    network = hostile(strict_limits=True)
    payer = network.funded_keypair(sol=1)
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        signature = (await client.send_raw_transaction(_transfer(payer, await _blockhash(client)))).value
        with pytest.raises(RPCException) as caught:
            await client.get_transaction(signature)
        assert "maxSupportedTransactionVersion" in str(caught.value)
        assert (await client.get_transaction(signature, max_supported_transaction_version=0)).value.slot > 0
        rpc = RpcGateway(network.rpc_url)  # the bot's own read passes the version
        try:
            effects = await rpc.transaction_effects(str(signature), owner=str(payer.pubkey()),
                                                    mint=str(Keypair().pubkey()))
        finally:
            await rpc.close()
    assert effects.fee_lamports == 5000 and effects.sol_change_lamports == -(SOL // 10) - 5000


async def test_raw_minus_32015_answer(hostile):
    network = hostile(strict_limits=True)
    payer = network.funded_keypair(sol=1)
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        signature = (await client.send_raw_transaction(_transfer(payer, await _blockhash(client)))).value
    body = {"jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": [str(signature), {"encoding": "json"}]}
    async with httpx.AsyncClient() as http:
        error = (await http.post(network.rpc_url, json=body)).json()["error"]
    assert error["code"] == -32015


# 3. A lagging node.

async def test_a_lagging_node_serves_old_state_and_refuses_a_fresher_blockhash(hostile):
    network = hostile(lag_slots=5)
    network.chain.advance_blocks(10)
    payer, receiver = network.funded_keypair(sol=1), Keypair()
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as fresh, \
            AsyncClient(network.lagging_rpc_url, commitment=Confirmed) as lagging:
        message = MessageV0.try_compile(payer.pubkey(), [transfer(TransferParams(
            from_pubkey=payer.pubkey(), to_pubkey=receiver.pubkey(), lamports=SOL // 2))], [],
            Hash.from_string(await _blockhash(fresh)))
        raw = bytes(VersionedTransaction(message, [payer]))
        network.chain.advance_blocks(1)
        assert (await lagging.get_slot()).value == (await fresh.get_slot()).value - 5
        with pytest.raises(RPCException) as caught:
            await lagging.send_raw_transaction(raw)
        assert "Blockhash not found" in str(caught.value)
        unsigned = VersionedTransaction.from_bytes(raw)
        simulated = (await lagging.simulate_transaction(unsigned)).value  # a simulation says so in its value
        assert str(simulated.err) == "TransactionErrorFieldless.BlockhashNotFound" and not simulated.logs
        replaced = (await lagging.simulate_transaction(unsigned, replace_recent_blockhash=True)).value
        assert replaced.err is None and replaced.logs  # on the node's own recent blockhash, it runs
        signature = (await fresh.send_raw_transaction(raw)).value
        assert (await fresh.get_balance(receiver.pubkey())).value == SOL // 2
        assert (await lagging.get_balance(receiver.pubkey())).value == 0
        assert (await lagging.get_account_info(receiver.pubkey())).value is None
        assert (await lagging.get_signature_statuses([signature])).value == [None]
        assert (await lagging.get_transaction(signature, max_supported_transaction_version=0)).value is None
        behind = (await lagging.get_latest_blockhash()).value.blockhash
        assert behind != (await fresh.get_latest_blockhash()).value.blockhash
        network.chain.advance_blocks(5)
        assert (await lagging.get_balance(receiver.pubkey())).value == SOL // 2
        assert (await lagging.get_signature_statuses([signature])).value[0].err is None
        # caught up: the blockhash is known there now
        again = _transfer(payer, str(message.recent_blockhash), lamports=SOL // 10)
        assert (await lagging.send_raw_transaction(again)).value == VersionedTransaction.from_bytes(again).signatures[0]


async def test_a_lagging_nodes_reads_fail_with_minus_32005_and_32016(hostile):
    network = hostile(lag_slots=3, lag_error_rate=1.0)
    network.chain.advance_blocks(10)
    async with AsyncClient(network.lagging_rpc_url, commitment=Confirmed) as lagging:
        with pytest.raises(RPCException) as caught:
            await lagging.get_balance(Keypair().pubkey())
        assert isinstance(caught.value.args[0], NodeUnhealthyMessage)
        assert caught.value.args[0].data.num_slots_behind == 3
        network.knobs.lag_error_rate = 0.0
        slot = (await lagging.get_slot()).value
        body = {"jsonrpc": "2.0", "id": 1, "method": "getBalance",
                "params": [str(Keypair().pubkey()), {"minContextSlot": slot + 1}]}
        async with httpx.AsyncClient() as http:
            error = (await http.post(network.lagging_rpc_url, json=body)).json()["error"]
        assert error == {"code": -32016, "message": "Minimum context slot has not been reached",
                         "data": {"contextSlot": slot}}
    parsed = GetBalanceResp.from_json(json.dumps({"jsonrpc": "2.0", "id": 1, "error": error}))
    assert isinstance(parsed, MinContextSlotNotReachedMessage)  # what solana-py raises it as


async def test_the_lagging_node_fails_only_as_often_as_the_knob_says(hostile):
    network = hostile(lag_slots=2, lag_error_rate=0.5, seed=7)
    failures = 0
    async with AsyncClient(network.lagging_rpc_url, commitment=Confirmed) as lagging:
        for _ in range(60):
            try:
                await lagging.get_block_height()
            except RPCException:
                failures += 1
    assert 15 <= failures <= 45
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as fresh:  # the primary never fails
        for _ in range(10):
            await fresh.get_block_height()


async def test_the_bots_gateway_rides_out_a_lagging_nodes_errors(hostile):
    network = hostile(lag_slots=4, lag_error_rate=0.3, seed=1)
    network.chain.advance_blocks(10)
    # -32005 / -32016 are transient to it: retried (10 attempts: three in a row at 30% would fail now and then)
    rpc = RpcGateway(network.lagging_rpc_url, backoff=0.001, read_attempts=10)
    try:
        heights = [await rpc.block_height() for _ in range(20)]
    finally:
        await rpc.close()
    assert set(heights) == {network.chain.block_height - 4}
    assert network.lagging_rpc.requests["getBlockHeight"] > 20  # some answers were errors, retried


# 4. Jupiter's rate limit.

async def test_jupiter_answers_429_with_retry_after_over_the_rate(hostile):
    network = hostile(jupiter_rpm=3)
    async with httpx.AsyncClient(base_url=network.jupiter_url, headers={"x-api-key": "free"}) as http:
        answers = [await http.get("/price/v3", params={"ids": "So11111111111111111111111111111111111111112"})
                   for _ in range(4)]
        other_key = await http.get("/price/v3", params={"ids": "x"}, headers={"x-api-key": "other"})
    assert [a.status_code for a in answers[:3]] == [200] * 3
    assert answers[3].status_code == 429 and 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert other_key.status_code != 429  # the budget is per API key


# 5. The fee market.

async def test_recent_prioritization_fees_answer_the_market_level(hostile):
    network = hostile(priority_fee_level=12_345)
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        network.chain.advance_blocks(200)
        fees = (await client.get_recent_prioritization_fees()).value
    assert len(fees) == 150 and {fee.prioritization_fee for fee in fees} == {12_345}


async def test_the_gateway_reads_the_market_level_once_for_a_few_seconds(hostile):
    network = hostile(priority_fee_level=12_345)
    network.chain.advance_blocks(200)
    rpc = RpcGateway(network.rpc_url)
    try:
        reads = network.rpc.requests["getRecentPrioritizationFees"]
        assert await rpc.recent_priority_fee(percentile=75) == 12_345
        network.knobs.priority_fee_level = 99_999  # within the cache's few seconds: the same answer, no read
        assert await rpc.recent_priority_fee(percentile=95) == 12_345
        assert network.rpc.requests["getRecentPrioritizationFees"] - reads == 1
        pool = str(Keypair().pubkey())  # another account set is another read
        assert await rpc.recent_priority_fee([pool], percentile=95) == 99_999
    finally:
        await rpc.close(quiet=True)


async def test_an_underpriced_transaction_is_dropped_per_attempt_and_a_well_priced_one_lands(hostile):
    network = hostile(priority_fee_level=10_000, underpriced_drop_rate=1.0)
    payer = network.funded_keypair(sol=1)
    async with AsyncClient(network.rpc_url, commitment=Confirmed) as client:
        blockhash = await _blockhash(client)
        cheap = _transfer(payer, blockhash, unit_price=9_999)
        signature = (await client.send_raw_transaction(cheap)).value
        network.chain.advance_blocks(2)
        assert (await client.get_signature_statuses([signature])).value == [None]
        network.knobs.underpriced_drop_rate = 0.0  # the market calms: the same bytes, resent, land
        assert (await client.send_raw_transaction(cheap, TxOpts(skip_preflight=True))).value == signature
        assert (await client.get_signature_statuses([signature])).value[0].err is None
        network.knobs.underpriced_drop_rate = 1.0
        paid = (await client.send_raw_transaction(_transfer(payer, blockhash, unit_price=10_000))).value
        assert (await client.get_signature_statuses([paid])).value[0].err is None


def test_the_random_seed_is_a_knob_and_the_tokens_are_listed_either_way(hostile):
    """``seed`` once meant both "list the tokens" and "the draws' seed": ``python -m localnet`` without --seed
    started with no tokens, and with it the draws were never seeded."""
    first, second = hostile(tokens=True, seed=7), hostile(seed=7)
    assert first.knobs.seed == second.knobs.seed == 7 and "BONK" in first.tokens and not second.tokens
    assert [first.knobs.random.random() for _ in range(3)] == [second.knobs.random.random() for _ in range(3)]
    console = Localnet.start_on(seed=None)  # as the console starts it with no --seed
    try:
        assert "BONK" in console.tokens and console.knobs.seed is None
    finally:
        console.stop()


def test_the_mainnet_profile_turns_every_knob_on_and_a_knob_given_wins():
    import subprocess
    import sys

    from kernel.config import BASE_DIR
    from localnet.hostile import mainnet_profile

    knobs = mainnet_profile(slot_ms=40)
    assert knobs["slot_ms"] == 40 and knobs["jupiter_window_seconds"] == 6.0  # time compressed tenfold, in step
    assert set(knobs) <= set(vars(Knobs()))  # every entry is a knob
    command = [sys.executable, "-m", "localnet", "--quiet", "--no-state", "--profile", "mainnet", "--lag-slots", "3"]
    console = subprocess.Popen(command, cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said: list[str] = []
        while len(said) < 20 and not any("slots behind" in line for line in said):  # the last of its lines
            said.append(console.stderr.readline())
    finally:
        console.kill()
        console.wait()
    assert any("dropped with probability 0.3" in line for line in said), said
    assert any("sandwiched" in line for line in said), said
    assert any("(3 slots behind)" in line for line in said), said  # the knob given wins over the profile's 2
