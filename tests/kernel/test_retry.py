"""The one retry policy of the chain clients, against the localnet stand-ins and a scripted JSON-RPC server.

Waits are checked only from below ("waited at least what the server asked"), never against the wall clock above."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from solana.rpc.core import RPCException
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from kernel.chain.errors import ChainUnavailable, JupiterError, TransactionRejected
from kernel.chain.jupiter import SOL_MINT, JupiterClient
from kernel.chain.retry import RetryPolicy, parse_retry_after
from kernel.chain.rpc import RpcGateway
from localnet.http import Request, Response, Server

SOL = 10**9
PRICES = "/price/v3"


@pytest.fixture
async def rpc(localnet):
    gateway = RpcGateway(localnet.rpc_url, read_attempts=3, backoff=0.01)
    yield gateway
    await gateway.close(quiet=True)


@pytest.fixture
async def jupiter(localnet):
    client = JupiterClient(localnet.jupiter_url, attempts=3, backoff=0.01)
    yield client
    await client.close()


class ScriptedRpc(Server):
    """Answers each JSON-RPC request with the next scripted error, then with a balance of 42 lamports."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[dict] = []

    def request_name(self, request: Request) -> str:
        return request.json()["method"]

    def handle(self, request: Request) -> Response:
        body = request.json()
        if self.errors:
            return Response.json({"jsonrpc": "2.0", "id": body["id"], "error": self.errors.pop(0)})
        return Response.json({"jsonrpc": "2.0", "id": body["id"], "result": {"context": {"slot": 1}, "value": 42}})


@pytest.fixture
def scripted() -> Iterator[ScriptedRpc]:
    server = ScriptedRpc().start()
    yield server
    server.stop()


NODE_BEHIND = {"code": -32005, "message": "Node is behind by 42 slots", "data": {"numSlotsBehind": 42}}
SLOT_NOT_REACHED = {"code": -32016, "message": "Minimum context slot has not been reached",
                    "data": {"contextSlot": 7}}
RATE_LIMITED = {"code": 429, "message": "Too many requests for a specific RPC call"}
INVALID_PARAMS = {"code": -32602, "message": "Invalid param: WrongSize"}


async def test_it_waits_for_an_rpc_429_retry_after_then_succeeds(rpc, localnet):
    owner = localnet.funded_keypair(sol=1)
    before = localnet.rpc.requests["getBalance"]
    localnet.rpc.faults.fail_next(1, status=429, retry_after=0.3, only="getBalance")
    started = time.monotonic()
    assert await rpc.sol_balance(str(owner.pubkey())) == SOL
    assert time.monotonic() - started >= 0.3
    assert localnet.rpc.requests["getBalance"] == before + 2


async def test_it_waits_for_a_jupiter_429_retry_after_then_succeeds(jupiter, localnet):
    before = localnet.jupiter.requests[PRICES]
    localnet.jupiter.faults.fail_next(1, status=429, retry_after=0.3, only=PRICES)
    started = time.monotonic()
    assert SOL_MINT in await jupiter.usd_prices([SOL_MINT])
    assert time.monotonic() - started >= 0.3
    assert localnet.jupiter.requests[PRICES] == before + 2


async def test_an_rpc_http_400_is_not_retried(rpc, localnet):
    before = localnet.rpc.requests["getBalance"]
    localnet.rpc.faults.fail_next(1, status=400, only="getBalance")
    with pytest.raises(ChainUnavailable, match="HTTP 400"):
        await rpc.sol_balance(str(Keypair().pubkey()))
    assert localnet.rpc.requests["getBalance"] == before + 1


async def test_a_jupiter_400_is_not_retried(jupiter, localnet):
    before = localnet.jupiter.requests[PRICES]
    localnet.jupiter.faults.fail_next(1, status=400, only=PRICES)
    with pytest.raises(JupiterError) as caught:
        await jupiter.usd_prices([SOL_MINT])
    assert caught.value.status == 400
    assert localnet.jupiter.requests[PRICES] == before + 1


async def test_rpc_reads_stop_at_the_attempt_bound(rpc, localnet):
    before = localnet.rpc.requests["getBalance"]
    localnet.rpc.faults.fail_next(10, status=503, only="getBalance")
    with pytest.raises(ChainUnavailable, match="getBalance failed: HTTP 503"):
        await rpc.sol_balance(str(Keypair().pubkey()))
    assert localnet.rpc.requests["getBalance"] == before + 3


async def test_jupiter_stops_at_the_attempt_bound(jupiter, localnet):
    before = localnet.jupiter.requests[PRICES]
    localnet.jupiter.faults.fail_next(10, status=502, only=PRICES)
    with pytest.raises(JupiterError) as caught:
        await jupiter.usd_prices([SOL_MINT])
    assert caught.value.status == 502
    assert localnet.jupiter.requests[PRICES] == before + 3


async def test_a_wait_past_the_time_bound_is_not_started(localnet):
    policy = RetryPolicy(attempts=10, total_seconds=0.5)
    waits: list[float] = []
    before = localnet.jupiter.requests[PRICES]
    localnet.jupiter.faults.fail_next(10, status=429, retry_after=3, only=PRICES)
    async with httpx.AsyncClient(base_url=localnet.jupiter_url) as http:
        with pytest.raises(httpx.HTTPStatusError):
            await policy.call(lambda: _get(http, PRICES), on_retry=lambda err, attempt, wait: waits.append(wait))
    assert waits == [] and localnet.jupiter.requests[PRICES] == before + 1


async def test_a_retry_after_beyond_the_cap_is_waited_only_up_to_the_cap(localnet):
    policy = RetryPolicy(max_retry_after=0.05)
    waits: list[float] = []
    localnet.jupiter.faults.fail_next(2, status=503, retry_after=3600, only=PRICES)
    async with httpx.AsyncClient(base_url=localnet.jupiter_url) as http:
        response = await policy.call(lambda: _get(http, PRICES),
                                     on_retry=lambda err, attempt, wait: waits.append(wait))
    assert response.status_code == 200 and waits == [0.05, 0.05]


@pytest.mark.parametrize("error", [NODE_BEHIND, SLOT_NOT_REACHED, RATE_LIMITED], ids=["-32005", "-32016", "429"])
async def test_an_rpc_node_saying_not_now_is_asked_again(scripted, error):
    scripted.errors = [error, error]
    rpc = RpcGateway(scripted.url, backoff=0.01)
    try:
        assert await rpc.sol_balance(str(Keypair().pubkey())) == 42
    finally:
        await rpc.close(quiet=True)
    assert scripted.requests["getBalance"] == 3


async def test_an_rpc_node_that_stays_behind_is_unavailable_after_the_attempt_bound(scripted):
    scripted.errors = [NODE_BEHIND] * 10
    rpc = RpcGateway(scripted.url, read_attempts=3, backoff=0.01)
    try:
        with pytest.raises(ChainUnavailable, match="Node is behind"):
            await rpc.sol_balance(str(Keypair().pubkey()))
    finally:
        await rpc.close(quiet=True)
    assert scripted.requests["getBalance"] == 3


async def test_an_rpc_error_answer_is_not_retried(scripted):
    scripted.errors = [INVALID_PARAMS]
    rpc = RpcGateway(scripted.url, backoff=0.01)
    try:
        with pytest.raises(RPCException):
            await rpc.sol_balance(str(Keypair().pubkey()))
    finally:
        await rpc.close(quiet=True)
    assert scripted.requests["getBalance"] == 1


async def test_a_send_is_not_resent_when_the_node_answers_that_it_is_behind(scripted):
    scripted.errors = [NODE_BEHIND]
    payer = Keypair()
    message = MessageV0.try_compile(payer.pubkey(), [transfer(TransferParams(
        from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1))], [], Hash.default())
    rpc = RpcGateway(scripted.url, backoff=0.01)
    try:
        with pytest.raises(TransactionRejected, match="Node is behind"):
            await rpc.send(VersionedTransaction(message, [payer]))
    finally:
        await rpc.close(quiet=True)
    assert scripted.requests["sendTransaction"] == 1


async def test_a_send_lost_at_the_http_level_is_resent_and_lands_once(rpc, localnet):
    payer, receiver = localnet.funded_keypair(sol=1), Keypair()
    blockhash, _ = await rpc.latest_blockhash()
    message = MessageV0.try_compile(payer.pubkey(), [transfer(TransferParams(
        from_pubkey=payer.pubkey(), to_pubkey=receiver.pubkey(), lamports=SOL // 2))], [], Hash.from_string(blockhash))
    transaction = VersionedTransaction(message, [payer])
    before = localnet.rpc.requests["sendTransaction"]
    localnet.rpc.faults.fail_next(1, status=503, only="sendTransaction")
    assert await rpc.send(transaction) == str(transaction.signatures[0])
    assert localnet.rpc.requests["sendTransaction"] == before + 2
    assert await rpc.sol_balance(str(receiver.pubkey())) == SOL // 2


@pytest.mark.parametrize(("header", "seconds"), [
    ("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("", None), ("soon", None), ("nan", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


async def _get(http: httpx.AsyncClient, path: str) -> httpx.Response:
    response = await http.get(path, params={"ids": SOL_MINT})
    return response.raise_for_status()
