"""The block engine (Jito's JSON-RPC shape) and the sandwicher on the public RPC: bundles land in order and
all-or-nothing, only with a tip, and are never sandwiched; a large buy sent in the open at a loose slippage is."""

import base64
import hashlib

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solders.compute_budget import ID as COMPUTE_BUDGET
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from localnet import b58
from localnet.block_engine import MAX_BUNDLE_TRANSACTIONS, NO_TIP, TIP_ACCOUNTS
from localnet.venue import INFLATED_TIP_LAMPORTS, SOL_MINT, sign_as
from tests.localnet.test_swap_shape import resolved

SOL = 10**9
TIP = 100_000


@pytest.fixture
async def engine(localnet):
    async with httpx.AsyncClient(base_url=localnet.block_engine_url) as client:
        yield client


@pytest.fixture
async def venue(localnet):
    async with httpx.AsyncClient(base_url=localnet.jupiter_url) as client:
        yield client


async def call(engine, method: str, *params, path: str = "/api/v1/bundles") -> dict:
    response = await engine.post(path, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert response.status_code == 200
    return response.json()


def payment(localnet, payer: Keypair, *, to: Pubkey | None = None, lamports: int = SOL // 100,
            tip: int = TIP) -> VersionedTransaction:
    instructions = [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to or Keypair().pubkey(),
                                            lamports=lamports))]
    if tip:
        instructions.append(transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=TIP_ACCOUNTS[3],
                                                    lamports=tip)))
    blockhash, _ = localnet.chain.latest_blockhash()
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey(), instructions, [], Hash.from_string(blockhash)),
                                [payer])


def b64(transaction: VersionedTransaction) -> str:
    return base64.b64encode(bytes(transaction)).decode()


async def test_get_tip_accounts_names_jitos_eight(engine):
    accounts = (await call(engine, "getTipAccounts"))["result"]
    assert len(accounts) == 8 == len(set(accounts)) and accounts[0] == "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5"
    assert all(Pubkey.from_string(account) for account in accounts)


async def test_a_bundle_with_a_tip_lands_in_order_with_jitos_id_and_statuses(engine, localnet):
    payer = localnet.funded_keypair(sol=1)
    first, second = payment(localnet, payer), payment(localnet, payer, tip=0, lamports=SOL // 50)
    tip_before = localnet.chain.sol_balance(TIP_ACCOUNTS[3])
    answer = await call(engine, "sendBundle", [b64(first), b64(second)], {"encoding": "base64"})
    signatures = [str(first.signatures[0]), str(second.signatures[0])]
    assert answer["result"] == hashlib.sha256(",".join(signatures).encode()).hexdigest()
    statuses = (await call(engine, "getBundleStatuses", [answer["result"]]))["result"]
    status = statuses["value"][0]
    assert status["bundle_id"] == answer["result"] and status["transactions"] == signatures
    assert status["confirmation_status"] == "confirmed" and status["err"] == {"Ok": None}
    landed = [localnet.chain.status(signature) for signature in signatures]
    assert landed[0].slot == landed[1].slot == status["slot"]  # one slot, in order
    assert localnet.chain.sol_balance(TIP_ACCOUNTS[3]) - tip_before == TIP
    inflight = (await call(engine, "getInflightBundleStatuses", [answer["result"], "f" * 64]))["result"]["value"]
    assert [entry["status"] for entry in inflight] == ["Landed", "Invalid"]
    assert (await call(engine, "getBundleStatuses", ["0" * 64]))["result"]["value"] == [None]


async def test_base58_is_the_default_encoding(engine, localnet):
    payer = localnet.funded_keypair(sol=1)
    transaction = payment(localnet, payer)
    answer = await call(engine, "sendBundle", [b58.encode(bytes(transaction))])
    assert "result" in answer and localnet.chain.status(str(transaction.signatures[0])) is not None


async def test_a_bundle_without_a_tip_is_refused_and_nothing_lands(engine, localnet):
    payer = localnet.funded_keypair(sol=1)
    untipped = payment(localnet, payer, tip=0)
    answer = await call(engine, "sendBundle", [b64(untipped)], {"encoding": "base64"})
    assert answer["error"]["message"] == NO_TIP
    too_small = payment(localnet, payer, tip=999)  # under Jito's minimum tip of 1000 lamports
    assert (await call(engine, "sendBundle", [b64(too_small)], {"encoding": "base64"}))["error"]["message"] == NO_TIP
    assert localnet.chain.status(str(untipped.signatures[0])) is None
    assert localnet.chain.sol_balance(payer.pubkey()) == SOL


async def test_a_bundle_whose_second_transaction_fails_lands_nothing(engine, localnet):
    payer, other = localnet.funded_keypair(sol=1), localnet.funded_keypair(sol=1)
    receiver = Keypair().pubkey()
    first = payment(localnet, payer, to=receiver)  # would succeed alone
    second = payment(localnet, other, tip=0, lamports=5 * SOL)  # more than it has: fails
    answer = await call(engine, "sendBundle", [b64(first), b64(second)], {"encoding": "base64"})
    assert "result" in answer  # taken: it loses at simulation, as Jito's bundles do, with no fee charged
    assert localnet.chain.status(str(first.signatures[0])) is None
    assert localnet.chain.sol_balance(payer.pubkey()) == SOL and localnet.chain.sol_balance(other.pubkey()) == SOL
    assert localnet.chain.account(receiver) is None  # the account the first transaction opened is gone again
    assert (await call(engine, "getBundleStatuses", [answer["result"]]))["result"]["value"] == [None]
    inflight = (await call(engine, "getInflightBundleStatuses", [answer["result"]]))["result"]["value"]
    assert inflight[0]["status"] == "Failed" and inflight[0]["landed_slot"] is None
    assert localnet.block_engine.bundles[answer["result"]].error["index"] == 1


async def test_more_than_five_transactions_are_refused(engine, localnet):
    payer = localnet.funded_keypair(sol=1)
    six = [b64(payment(localnet, payer, lamports=SOL // 100 + i)) for i in range(MAX_BUNDLE_TRANSACTIONS + 1)]
    answer = await call(engine, "sendBundle", six, {"encoding": "base64"})
    assert "max transaction count of 5" in answer["error"]["message"]


async def test_a_dropped_bundle_lands_when_resent(engine, localnet):
    payer = localnet.funded_keypair(sol=1)
    transaction = payment(localnet, payer)
    localnet.knobs.bundle_drop_rate = 1.0
    first = await call(engine, "sendBundle", [b64(transaction)], {"encoding": "base64"})
    assert localnet.chain.status(str(transaction.signatures[0])) is None
    assert (await call(engine, "getInflightBundleStatuses", [first["result"]]))["result"]["value"][0]["status"] \
        == "Failed"
    localnet.knobs.bundle_drop_rate = 0.0
    again = await call(engine, "sendBundle", [b64(transaction)], {"encoding": "base64"})
    assert again["result"] == first["result"] and localnet.chain.status(str(transaction.signatures[0])) is not None


async def test_send_transaction_is_forwarded_as_a_protected_bundle_of_one(engine, localnet):
    payer = localnet.funded_keypair(sol=1)
    transaction = payment(localnet, payer)
    answer = await call(engine, "sendTransaction", b64(transaction), {"encoding": "base64"},
                        path="/api/v1/transactions")
    assert answer["result"] == str(transaction.signatures[0]) and localnet.chain.status(answer["result"])
    untipped = payment(localnet, payer, tip=0)
    refused = await call(engine, "sendTransaction", b64(untipped), {"encoding": "base64"}, path="/api/v1/transactions")
    assert refused["error"]["message"] == NO_TIP


async def _swap(venue, user: Pubkey, mint: str, lamports: int, *, slippage_bps: int = 100,
                fee=0) -> tuple[dict, VersionedTransaction]:
    quote = (await venue.get("/swap/v1/quote", params={"inputMint": SOL_MINT, "outputMint": mint,
                                                       "amount": str(lamports), "slippageBps": str(slippage_bps)})
             ).json()
    body = (await venue.post("/swap/v1/swap", json={"quoteResponse": quote, "userPublicKey": str(user),
                                                    "prioritizationFeeLamports": fee})).json()
    return quote, VersionedTransaction.from_bytes(base64.b64decode(body["swapTransaction"]))


async def test_a_swap_asked_with_a_jito_tip_pays_a_tip_account_and_no_compute_unit_price(venue, localnet):
    user = Keypair().pubkey()
    _, transaction = await _swap(venue, user, localnet.token("WIF").mint, SOL // 10,
                                 fee={"jitoTipLamports": TIP})
    _, instructions = resolved(localnet, transaction)
    program, accounts = instructions[-1]
    data = bytes(transaction.message.instructions[-1].data)
    assert program == SYSTEM and accounts[0] == user and accounts[1] in TIP_ACCOUNTS
    assert int.from_bytes(data[4:12], "little") == TIP
    prices = [bytes(ix.data)[0] for (program, _), ix in zip(instructions, transaction.message.instructions,
                                                           strict=True) if program == COMPUTE_BUDGET]
    assert prices == [2]  # SetComputeUnitLimit only


async def test_inflated_tip_pays_five_sol_to_a_tip_account(venue, localnet):
    localnet.jupiter.attack = "inflated_tip"
    try:
        _, transaction = await _swap(venue, Keypair().pubkey(), localnet.token("WIF").mint, SOL // 10)
    finally:
        localnet.jupiter.attack = None
    _, instructions = resolved(localnet, transaction)
    assert instructions[-1][0] == SYSTEM and instructions[-1][1][1] in TIP_ACCOUNTS
    assert int.from_bytes(bytes(transaction.message.instructions[-1].data)[4:12], "little") == INFLATED_TIP_LAMPORTS


async def _sent_in_the_open(localnet, user: Keypair, transaction: VersionedTransaction) -> str:
    async with AsyncClient(localnet.rpc_url, commitment=Confirmed) as client:
        return str((await client.send_raw_transaction(bytes(sign_as(user, transaction)))).value)


async def test_a_large_buy_at_loose_slippage_is_sandwiched_down_to_its_minimum(venue, localnet):
    localnet.knobs.sandwich_min_lamports = SOL
    user, mint = localnet.funded_keypair(sol=10), localnet.token("BONK").mint
    quote, transaction = await _swap(venue, user.pubkey(), mint, 5 * SOL, slippage_bps=1000)
    signature = await _sent_in_the_open(localnet, user, transaction)
    [sandwich] = [s for s in localnet.sandwiches if s.victim == signature]
    received = localnet.chain.token_balance(user.pubkey(), mint)
    assert received == sandwich.victim_out >= int(quote["otherAmountThreshold"])
    assert received - int(quote["otherAmountThreshold"]) < int(quote["outAmount"]) // 10_000  # its minimum, all but
    assert sandwich.front_lamports > 0 and sandwich.victim_quoted > received
    slots = {localnet.chain.status(s).slot for s in (sandwich.front_run, signature, sandwich.back_run)}
    assert len(slots) == 1


async def test_a_small_buy_or_a_tight_slippage_is_left_alone(venue, localnet):
    localnet.knobs.sandwich_min_lamports = SOL
    user, mint = localnet.funded_keypair(sol=10), localnet.token("BONK").mint
    _, small = await _swap(venue, user.pubkey(), mint, SOL // 10, slippage_bps=1000)
    _, tight = await _swap(venue, user.pubkey(), mint, 2 * SOL, slippage_bps=10)
    victims = {s.victim for s in localnet.sandwiches}
    for transaction in (small, tight):
        assert await _sent_in_the_open(localnet, user, transaction) not in victims


async def test_the_same_buy_through_the_block_engine_is_never_sandwiched(venue, engine, localnet):
    localnet.knobs.sandwich_min_lamports = SOL
    user, mint = localnet.funded_keypair(sol=10), localnet.token("BONK").mint
    quote, transaction = await _swap(venue, user.pubkey(), mint, 5 * SOL, slippage_bps=1000,
                                     fee={"jitoTipLamports": TIP})
    signed = sign_as(user, transaction)
    answer = await call(engine, "sendBundle", [b64(signed)], {"encoding": "base64"})
    assert "result" in answer
    assert str(signed.signatures[0]) not in {s.victim for s in localnet.sandwiches}
    assert localnet.chain.token_balance(user.pubkey(), mint) == int(quote["outAmount"])  # the quote, in full


async def test_the_public_rpc_refuses_nothing_new(localnet):
    """With the sandwicher idle, a transaction sent in the open lands as before."""
    payer = localnet.funded_keypair(sol=1)
    async with AsyncClient(localnet.rpc_url, commitment=Confirmed) as client:
        with pytest.raises(RPCException):
            await client.send_raw_transaction(bytes(payment(localnet, payer, lamports=5 * SOL)))
        signature = (await client.send_raw_transaction(bytes(payment(localnet, payer)))).value
    assert localnet.chain.status(str(signature)) is not None
