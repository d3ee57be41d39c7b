"""The JSON-RPC server, through solana-py's real AsyncClient."""

import httpx2
import pytest
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

SOL = 10**9


async def _send(client, payer: Keypair, instructions, *, blockhash: str | None = None, skip_preflight=False):
    if blockhash is None:
        blockhash = str((await client.get_latest_blockhash()).value.blockhash)
    message = MessageV0.try_compile(payer.pubkey(), instructions, [], Hash.from_string(blockhash))
    raw = bytes(VersionedTransaction(message, [payer]))
    return (await client.send_raw_transaction(raw, TxOpts(skip_preflight=skip_preflight))).value


async def test_sol_transfer_lands_and_reads_back(client, localnet):
    payer, receiver = localnet.funded_keypair(sol=2), Keypair()
    height = (await client.get_block_height()).value
    signature = await _send(client, payer, [transfer(TransferParams(from_pubkey=payer.pubkey(),
                                                                    to_pubkey=receiver.pubkey(), lamports=SOL))])
    status = (await client.get_signature_statuses([signature])).value[0]
    assert status.err is None and status.confirmation_status is not None
    assert (await client.get_balance(receiver.pubkey())).value == SOL
    assert (await client.get_balance(payer.pubkey())).value == SOL - 5000
    assert (await client.get_block_height()).value == height + 1
    meta = (await client.get_transaction(signature, encoding="json",
                                         max_supported_transaction_version=0)).value.transaction.meta
    assert meta.fee == 5000 and meta.post_balances[1] - meta.pre_balances[1] == SOL


async def test_spl_transfer_with_token_balances_in_the_transaction(client, localnet):
    token = localnet.token("WIF")
    mint = Pubkey.from_string(token.mint)
    sender, receiver = localnet.funded_keypair(sol=1), Keypair()
    localnet.chain.mint_to(mint, sender.pubkey(), 1_000_000)
    source = get_associated_token_address(sender.pubkey(), mint)
    dest = get_associated_token_address(receiver.pubkey(), mint)
    signature = await _send(client, sender, [
        create_idempotent_associated_token_account(sender.pubkey(), receiver.pubkey(), mint, TOKEN_PROGRAM_ID),
        transfer_checked(TransferCheckedParams(program_id=TOKEN_PROGRAM_ID, source=source, mint=mint, dest=dest,
                                               owner=sender.pubkey(), amount=400_000, decimals=token.decimals)),
    ])
    assert (await client.get_token_account_balance(dest)).value.amount == "400000"
    accounts = (await client.get_token_accounts_by_owner_json_parsed(receiver.pubkey(),
                                                                     TokenAccountOpts(mint=mint))).value
    assert accounts[0].account.data.parsed["info"]["tokenAmount"]["amount"] == "400000"
    meta = (await client.get_transaction(signature, encoding="json",
                                         max_supported_transaction_version=0)).value.transaction.meta
    post = {str(b.owner): int(b.ui_token_amount.amount) for b in meta.post_token_balances}
    assert post[str(receiver.pubkey())] == 400_000 and post[str(sender.pubkey())] == 600_000


async def test_an_expired_blockhash_is_rejected(client, localnet):
    payer = localnet.funded_keypair(sol=1)
    old = str((await client.get_latest_blockhash()).value.blockhash)
    localnet.chain.advance_blocks(151)
    with pytest.raises(RPCException) as caught:
        await _send(client, payer, [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(),
                                                            lamports=SOL // 2))], blockhash=old)
    assert "Blockhash not found" in str(caught.value)
    assert (await client.get_balance(payer.pubkey())).value == SOL


async def test_a_preflight_failure_surfaces_its_logs(client, localnet):
    payer = localnet.funded_keypair(sol=1)
    with pytest.raises(RPCException) as caught:
        await _send(client, payer, [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(),
                                                            lamports=50 * SOL))])
    failure = caught.value.args[0]
    assert any("insufficient lamports" in line for line in failure.data.logs)
    assert (await client.get_balance(payer.pubkey())).value == SOL  # preflight charged nothing


async def test_batch_requests(localnet):
    body = [{"jsonrpc": "2.0", "id": 1, "method": "getBlockHeight"}, {"jsonrpc": "2.0", "id": 2, "method": "getSlot"}]
    async with httpx2.AsyncClient() as http:
        answers = (await http.post(localnet.rpc_url, json=body)).json()
    assert [a["id"] for a in answers] == [1, 2] and all(isinstance(a["result"], int) for a in answers)


async def test_429_and_timeouts_reach_the_real_client(localnet):
    localnet.rpc.faults.fail_next(1, status=429, retry_after=1)
    async with AsyncClient(localnet.rpc_url, timeout=0.3, max_transport_retries=0) as client:
        with pytest.raises(SolanaRpcException) as caught:
            await client.get_block_height()
        assert caught.value.__cause__.response.status_code == 429
        assert caught.value.__cause__.response.headers["Retry-After"] == "1"
        localnet.rpc.faults.hang_next(1, seconds=1)
        with pytest.raises(SolanaRpcException) as caught:
            await client.get_block_height()
        assert isinstance(caught.value.__cause__, httpx2.TimeoutException)


async def test_a_dropped_transaction_is_accepted_but_never_lands(client, localnet):
    payer = localnet.funded_keypair(sol=1)
    localnet.chain.drop_next_transactions(1)
    signature = await _send(client, payer, [transfer(TransferParams(from_pubkey=payer.pubkey(),
                                                                    to_pubkey=Keypair().pubkey(), lamports=SOL // 2))])
    localnet.chain.advance_blocks(200)
    assert (await client.get_signature_statuses([signature], search_transaction_history=True)).value == [None]
    assert (await client.get_balance(payer.pubkey())).value == SOL


async def test_a_blackholed_transaction_never_lands_whatever_is_resent(client, localnet):
    payer = localnet.funded_keypair(sol=1)
    raw = await _signed_transfer(client, payer, SOL // 2)
    localnet.chain.drop_next_transactions(1)
    signature = (await client.send_raw_transaction(raw)).value
    for _ in range(5):
        await client.send_raw_transaction(raw, TxOpts(skip_preflight=True))
    assert (await client.get_signature_statuses([signature])).value == [None]
    assert (await client.get_balance(payer.pubkey())).value == SOL


async def test_an_attempt_dropped_at_random_lands_when_the_same_bytes_are_resent(client, localnet):
    payer, receiver = localnet.funded_keypair(sol=1), Keypair()
    raw = await _signed_transfer(client, payer, SOL // 2, receiver=receiver)
    localnet.chain.set_drop_rate(0.5, seed=1)  # this seed's first draw drops, its second does not
    signature = (await client.send_raw_transaction(raw)).value
    assert (await client.get_signature_statuses([signature])).value == [None]
    await client.send_raw_transaction(raw, TxOpts(skip_preflight=True))
    assert (await client.get_signature_statuses([signature])).value[0].err is None
    for _ in range(3):  # once landed, the same bytes are the same transaction: nothing moves twice
        await client.send_raw_transaction(raw, TxOpts(skip_preflight=True))
    assert (await client.get_balance(receiver.pubkey())).value == SOL // 2
    assert (await client.get_balance(payer.pubkey())).value == SOL // 2 - 5000


def test_the_drop_rate_is_a_probability_and_repeatable(localnet):
    with pytest.raises(ValueError):
        localnet.chain.set_drop_rate(1.5)
    runs = []
    for _ in range(2):
        localnet.chain.set_drop_rate(0.3, seed=7)
        payer = localnet.funded_keypair(sol=1)
        runs.append([_lands(localnet, payer, lamports) for lamports in range(1, 201)])
    assert runs[0] == runs[1] and 30 <= runs[0].count(False) <= 90


def _lands(localnet, payer: Keypair, lamports: int) -> bool:
    blockhash, _ = localnet.chain.latest_blockhash()
    message = MessageV0.try_compile(payer.pubkey(), [transfer(TransferParams(
        from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=lamports))], [], Hash.from_string(blockhash))
    transaction = VersionedTransaction(message, [payer])
    localnet.chain.send(transaction, attempt=True)
    return localnet.chain.status(str(transaction.signatures[0])) is not None


async def _signed_transfer(client, payer: Keypair, lamports: int, *, receiver: Keypair | None = None) -> bytes:
    blockhash = (await client.get_latest_blockhash()).value.blockhash
    instruction = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=(receiver or Keypair()).pubkey(),
                                          lamports=lamports))
    return bytes(VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [instruction], [], blockhash), [payer]))
