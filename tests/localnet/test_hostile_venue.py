"""The hostile swap venue: each attack kind is emitted while ``venue.attack`` is set, and the money-moving ones
really move money when the transaction is signed and sent naively (what the bot's inspector must refuse)."""

import pytest
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.hash import Hash
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM
from solders.token.associated import get_associated_token_address
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

from localnet.chain import JUPITER_PROGRAM_ID
from localnet.venue import ATTACKS, DRAIN_LAMPORTS, SOL_MINT, Route, sign_as
from tests.localnet.test_swap_shape import resolved, simulate, swap_transaction

SOL = 10**9
U64_MAX = 2**64 - 1


@pytest.fixture
def venue(localnet):
    yield localnet.jupiter
    localnet.jupiter.attack = None


async def hostile(http, venue, kind, user, input_mint, output_mint, amount):
    venue.attack = kind
    try:
        return await swap_transaction(http, user, input_mint, output_mint, amount)
    finally:
        venue.attack = None


async def land(client, user, transaction) -> str:
    return str((await client.send_raw_transaction(bytes(sign_as(user, transaction)))).value)


def user_token_account(localnet, user, symbol):
    token = localnet.token(symbol)
    return get_associated_token_address(user, Pubkey.from_string(token.mint), Pubkey.from_string(token.program_id))


def token_state(localnet, address) -> TokenAccount | None:
    account = localnet.chain.account(address)
    return None if account is None else TokenAccount.from_bytes(bytes(account.data)[:165])


def test_every_kind_is_known_and_a_typo_is_refused(localnet):
    pool = next(iter(localnet.jupiter.pools.values()))
    with pytest.raises(ValueError, match="unknown attack"):
        localnet.jupiter.build_swap(pool, localnet.jupiter.attacker.pubkey(), sol_in=True, amount=1, out=1,
                                    threshold=1, priority_fee=0, blockhash=localnet.chain.latest_blockhash()[0],
                                    attack="drain")
    assert len(ATTACKS) == 11


async def test_the_attack_is_reset_after_each_test_and_honest_swaps_stay_honest(http, localnet):
    assert localnet.jupiter.attack is None
    _, transaction = await swap_transaction(http, localnet.jupiter.attacker.pubkey(), SOL_MINT,
                                            localnet.token("WIF").mint, SOL)
    assert transaction.message.header.num_required_signatures == 1


async def test_drain_transfer_sends_nine_sol_to_the_attacker(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=12)
    _, transaction = await hostile(http, venue, "drain_transfer", user.pubkey(), SOL_MINT,
                                   localnet.token("WIF").mint, SOL // 10)
    _, instructions = resolved(localnet, transaction)
    program, accounts = instructions[-1]
    data = bytes(transaction.message.instructions[-1].data)
    assert program == SYSTEM and accounts == [user.pubkey(), venue.attacker.pubkey()]
    assert int.from_bytes(data[4:12], "little") == DRAIN_LAMPORTS
    attacker_before = localnet.chain.sol_balance(venue.attacker.pubkey())
    await land(client, user, transaction)
    assert localnet.chain.sol_balance(venue.attacker.pubkey()) - attacker_before == DRAIN_LAMPORTS
    assert localnet.chain.sol_balance(user.pubkey()) < 3 * SOL - SOL // 10


async def test_approve_stranger_lets_the_attacker_take_the_tokens(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    token = localnet.token("WIF")
    _, transaction = await hostile(http, venue, "approve_stranger", user.pubkey(), SOL_MINT, token.mint, SOL // 10)
    user_ata = user_token_account(localnet, user.pubkey(), "WIF")
    _, instructions = resolved(localnet, transaction)
    assert bytes(transaction.message.instructions[-1].data)[0] == 4  # SPL Token Approve
    assert instructions[-1][1] == [user_ata, venue.attacker.pubkey(), user.pubkey()]
    await land(client, user, transaction)
    state = token_state(localnet, user_ata)
    assert state.delegate == venue.attacker.pubkey() and state.delegated_amount == U64_MAX
    # The attacker (any fee payer will do) now takes everything.
    payer = localnet.funded_keypair(sol=1)
    mint, program = Pubkey.from_string(token.mint), Pubkey.from_string(token.program_id)
    loot = get_associated_token_address(venue.attacker.pubkey(), mint, program)
    message = MessageV0.try_compile(payer.pubkey(), [
        create_idempotent_associated_token_account(payer.pubkey(), venue.attacker.pubkey(), mint, program),
        transfer_checked(TransferCheckedParams(program_id=program, source=user_ata, mint=mint, dest=loot,
                                               owner=venue.attacker.pubkey(), amount=state.amount,
                                               decimals=token.decimals))],
        [], Hash.from_string(localnet.chain.latest_blockhash()[0]))
    theft = VersionedTransaction(message, [payer, venue.attacker])
    assert localnet.chain.send(theft).err is None
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == 0
    assert token_state(localnet, loot).amount >= state.amount


async def test_close_to_stranger_gives_the_attacker_the_accounts_rent(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    token = localnet.token("BONK")
    localnet.chain.mint_to(Pubkey.from_string(token.mint), user.pubkey(), 10**7)
    _, transaction = await hostile(http, venue, "close_to_stranger", user.pubkey(), token.mint, SOL_MINT, 10**7)
    user_ata = user_token_account(localnet, user.pubkey(), "BONK")
    _, instructions = resolved(localnet, transaction)
    assert bytes(transaction.message.instructions[-1].data)[0] == 9  # SPL Token CloseAccount
    assert instructions[-1][1] == [user_ata, venue.attacker.pubkey(), user.pubkey()]
    rent = localnet.chain.account(user_ata).lamports
    attacker_before = localnet.chain.sol_balance(venue.attacker.pubkey())
    await land(client, user, transaction)
    assert localnet.chain.account(user_ata) is None
    assert localnet.chain.sol_balance(venue.attacker.pubkey()) - attacker_before == rent


async def test_set_authority_stranger_hands_the_token_account_to_the_attacker(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    _, transaction = await hostile(http, venue, "set_authority_stranger", user.pubkey(), SOL_MINT,
                                   localnet.token("JUP").mint, SOL // 10)
    data = bytes(transaction.message.instructions[-1].data)
    assert data[:3] == bytes([6, 2, 1]) and data[3:35] == bytes(venue.attacker.pubkey())  # AccountOwner -> attacker
    await land(client, user, transaction)
    state = token_state(localnet, user_token_account(localnet, user.pubkey(), "JUP"))
    assert state.owner == venue.attacker.pubkey() and state.amount > 0


async def test_wrong_output_mint_delivers_junk_for_the_sol(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    token = localnet.token("WIF")
    _, transaction = await hostile(http, venue, "wrong_output_mint", user.pubkey(), SOL_MINT, token.mint, SOL // 10)
    _, instructions = resolved(localnet, transaction)
    route_accounts = instructions[-1][1]
    junk = route_accounts[4]
    assert instructions[-1][0] == JUPITER_PROGRAM_ID and str(junk) != token.mint
    before = localnet.chain.sol_balance(user.pubkey())
    await land(client, user, transaction)
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == 0
    assert localnet.chain.token_balance(user.pubkey(), str(junk)) > 0
    assert before - localnet.chain.sol_balance(user.pubkey()) > SOL // 10
    # Selling: the tokens go in, junk comes out instead of SOL.
    localnet.chain.mint_to(Pubkey.from_string(token.mint), user.pubkey(), 10**6)
    _, transaction = await hostile(http, venue, "wrong_output_mint", user.pubkey(), token.mint, SOL_MINT, 10**6)
    junk_before = localnet.chain.token_balance(user.pubkey(), str(junk))
    before = localnet.chain.sol_balance(user.pubkey())
    await land(client, user, transaction)
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == 0
    assert localnet.chain.token_balance(user.pubkey(), str(junk)) > junk_before
    assert localnet.chain.sol_balance(user.pubkey()) < before


async def test_extra_sol_out_takes_three_times_on_a_buy_and_a_sol_on_a_sell(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=3)
    token = localnet.token("NINE")
    quote, transaction = await hostile(http, venue, "extra_sol_out", user.pubkey(), SOL_MINT, token.mint, SOL // 10)
    assert Route.decode(bytes(transaction.message.instructions[-1].data)).extra_lamports == 2 * SOL // 10
    before = localnet.chain.sol_balance(user.pubkey())
    await land(client, user, transaction)
    rent = localnet.chain.rent_exempt(165)
    assert before - localnet.chain.sol_balance(user.pubkey()) == 3 * SOL // 10 + 5000 + rent
    held = localnet.chain.token_balance(user.pubkey(), token.mint)
    quote, transaction = await hostile(http, venue, "extra_sol_out", user.pubkey(), token.mint, SOL_MINT, held)
    before = localnet.chain.sol_balance(user.pubkey())
    await land(client, user, transaction)
    assert localnet.chain.sol_balance(user.pubkey()) - before == int(quote["outAmount"]) - SOL - 5000


async def test_inflated_priority_fee_burns_five_sol_in_fees(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=6)
    _, transaction = await hostile(http, venue, "inflated_priority_fee", user.pubkey(), SOL_MINT,
                                   localnet.token("WIF").mint, SOL // 100)
    data = [bytes(ix.data) for ix in transaction.message.instructions[:2]]
    limit, price = int.from_bytes(data[0][1:5], "little"), int.from_bytes(data[1][1:9], "little")
    assert limit * price // 1_000_000 == 5 * SOL
    signature = await land(client, user, transaction)
    assert localnet.chain.status(signature).fee == 5 * SOL + 5000
    assert localnet.chain.sol_balance(user.pubkey()) < SOL


async def test_unknown_program_is_emitted_and_fails_cleanly(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    _, transaction = await hostile(http, venue, "unknown_program", user.pubkey(), SOL_MINT,
                                   localnet.token("WIF").mint, SOL // 10)
    _, instructions = resolved(localnet, transaction)
    assert instructions[-1][0] == venue.unknown_program
    value = (await simulate(client, transaction, [user.pubkey()])).value
    assert value.err is not None
    before = localnet.chain.sol_balance(user.pubkey())
    with pytest.raises(RPCException):
        await land(client, user, transaction)
    assert localnet.chain.sol_balance(user.pubkey()) == before
    # Sent without preflight it lands as failed: the fee is charged (as on mainnet), nothing else moves.
    signed = sign_as(user, transaction)
    signature = (await client.send_raw_transaction(bytes(signed), TxOpts(skip_preflight=True))).value
    landed = localnet.chain.status(str(signature))
    assert landed.err == "InvalidProgramForExecution" and landed.fee == 5000
    assert localnet.chain.sol_balance(user.pubkey()) == before - 5000
    assert localnet.chain.token_balance(user.pubkey(), localnet.token("WIF").mint) == 0


async def test_second_signer_is_the_attacker_already_signed(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    _, transaction = await hostile(http, venue, "second_signer", user.pubkey(), SOL_MINT,
                                   localnet.token("WIF").mint, SOL // 10)
    message = transaction.message
    assert message.header.num_required_signatures == 2
    assert list(message.account_keys[:2]) == [user.pubkey(), venue.attacker.pubkey()]
    assert transaction.signatures[1].verify(venue.attacker.pubkey(), to_bytes_versioned(message))
    signature = await land(client, user, transaction)
    assert localnet.chain.status(signature).err is None and localnet.chain.status(signature).fee == 10_000


async def test_quote_mismatch_spends_more_than_quoted(http, client, localnet, venue):
    user = localnet.funded_keypair(sol=1)
    quote, transaction = await hostile(http, venue, "quote_mismatch", user.pubkey(), SOL_MINT,
                                       localnet.token("JUP").mint, SOL // 10)
    route = Route.decode(bytes(transaction.message.instructions[-1].data))
    assert int(quote["inAmount"]) == SOL // 10 and route.amount_in == 2 * SOL // 10
    before = localnet.chain.sol_balance(user.pubkey())
    await land(client, user, transaction)
    rent = localnet.chain.rent_exempt(165)
    assert before - localnet.chain.sol_balance(user.pubkey()) == 2 * SOL // 10 + 5000 + rent
