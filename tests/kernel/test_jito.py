"""The block engine client against localnet's Jito-shaped block engine, and the gateway landing through it."""

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from kernel.chain.errors import BlockEngineUnavailable, TransactionRejected
from kernel.chain.jito import BlockEngineClient
from kernel.chain.rpc import Outcome, RpcGateway

SOL = 10**9


@pytest.fixture
async def block_engine(localnet):
    client = BlockEngineClient(localnet.block_engine_url, timeout=2.0)
    yield client
    await client.close()


def _payment(localnet, payer: Keypair, *, tip: int) -> tuple[VersionedTransaction, int]:
    instructions = [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(),
                                            lamports=SOL // 100))]
    if tip:
        instructions.append(transfer(TransferParams(from_pubkey=payer.pubkey(),
                                                    to_pubkey=localnet.block_engine.tip_accounts[0], lamports=tip)))
    blockhash, last_valid = localnet.chain.latest_blockhash()
    message = MessageV0.try_compile(payer.pubkey(), instructions, [], Hash.from_string(blockhash))
    return VersionedTransaction(message, [payer]), last_valid


async def test_it_reads_the_eight_tip_accounts_once(block_engine, localnet):
    first = await block_engine.tip_accounts()
    requests = localnet.block_engine.requests["getTipAccounts"]
    assert len(first) == 8 and await block_engine.tip_accounts() == first
    assert localnet.block_engine.requests["getTipAccounts"] == requests


async def test_a_refused_bundle_is_a_rejection_and_an_outage_is_unavailable(block_engine, localnet):
    untipped, _ = _payment(localnet, localnet.funded_keypair(sol=1), tip=0)
    with pytest.raises(TransactionRejected, match="tip account"):
        await block_engine.send_bundle([bytes(untipped)])
    localnet.block_engine.faults.fail_next(1, status=503)
    with pytest.raises(BlockEngineUnavailable, match="HTTP 503"):
        await block_engine.send_bundle([bytes(untipped)])


async def test_the_gateway_lands_through_the_block_engine_and_never_in_the_open(block_engine, localnet):
    rpc = RpcGateway(localnet.rpc_url, backoff=0.01)
    payer = localnet.funded_keypair(sol=1)
    tipped, last_valid = _payment(localnet, payer, tip=10_000)
    broke, broke_valid = _payment(localnet, Keypair(), tip=10_000)  # nothing to pay with: fails preflight
    public = localnet.rpc.requests["sendTransaction"]
    try:
        confirmation = await rpc.land(tipped, last_valid_block_height=last_valid, block_engine=block_engine)
        with pytest.raises(TransactionRejected):
            await rpc.land(broke, last_valid_block_height=broke_valid, block_engine=block_engine)
    finally:
        await rpc.close()
    assert confirmation.outcome is Outcome.CONFIRMED
    assert localnet.rpc.requests["sendTransaction"] == public
    assert localnet.chain.status(str(broke.signatures[0])) is None
