"""Swaps shaped like Jupiter's: one signer, a route instruction to Jupiter's program, pool accounts through a real
Address Lookup Table, carried out by the chain at landing and in simulation; the RPC methods a transaction
inspector needs (getMultipleAccounts, simulateTransaction with accounts)."""

from base64 import b64decode

import httpx
import pytest
from solders.account_decoder import UiAccountEncoding
from solders.address_lookup_table_account import AddressLookupTable
from solders.compute_budget import ID as COMPUTE_BUDGET
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.config import RpcSimulateTransactionAccountsConfig, RpcSimulateTransactionConfig
from solders.rpc.requests import SimulateVersionedTransaction
from solders.rpc.responses import SimulateTransactionResp
from solders.signature import Signature
from solders.system_program import ID as SYSTEM
from solders.token.associated import get_associated_token_address
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID

from kernel.chain.rpc import RpcGateway
from localnet.chain import ADDRESS_LOOKUP_TABLE_PROGRAM_ID, JUPITER_PROGRAM_ID
from localnet.venue import SOL_MINT, Route, sign_as

SOL = 10**9


async def swap_transaction(http, user: Pubkey, input_mint: str, output_mint: str, amount: int, *,
                           priority: int = 0) -> tuple[dict, VersionedTransaction]:
    quote = (await http.get("/swap/v1/quote", params={"inputMint": input_mint, "outputMint": output_mint,
                                                      "amount": str(amount), "slippageBps": "100"})).json()
    body = (await http.post("/swap/v1/swap", json={"quoteResponse": quote, "userPublicKey": str(user),
                                                   "prioritizationFeeLamports": priority})).json()
    return quote, VersionedTransaction.from_bytes(b64decode(body["swapTransaction"]))


def resolved(localnet, transaction: VersionedTransaction) -> tuple[list[Pubkey], list[tuple[Pubkey, list[Pubkey]]]]:
    """All keys (static, loaded writable, loaded readonly) and each instruction as (program, accounts)."""
    message = transaction.message
    writable, readonly = [], []
    for lookup in message.address_table_lookups:
        table = localnet.chain.lookup_table(lookup.account_key)
        writable += [table[i] for i in lookup.writable_indexes]
        readonly += [table[i] for i in lookup.readonly_indexes]
    keys = list(message.account_keys) + writable + readonly
    return keys, [(keys[ix.program_id_index], [keys[i] for i in ix.accounts]) for ix in message.instructions]


async def test_a_buy_is_shaped_like_a_jupiter_swap(http, localnet):
    token = localnet.token("WIF")
    pool = localnet.jupiter.pools[token.mint]
    user = Keypair().pubkey()
    quote, transaction = await swap_transaction(http, user, SOL_MINT, token.mint, SOL // 10, priority=20_000)
    message = transaction.message
    assert message.header.num_required_signatures == 1 and message.account_keys[0] == user
    assert list(transaction.signatures) == [Signature.default()]
    assert [lookup.account_key for lookup in message.address_table_lookups] == [pool.lookup_table]
    _, instructions = resolved(localnet, transaction)
    assert [program for program, _ in instructions] == [COMPUTE_BUDGET, COMPUTE_BUDGET, ASSOCIATED_TOKEN_PROGRAM_ID,
                                                        JUPITER_PROGRAM_ID]
    user_ata = get_associated_token_address(user, pool.mint, pool.program)
    assert instructions[2][1][:4] == [user, user_ata, user, pool.mint]  # payer, account, owner, mint
    assert instructions[3][1] == [user, user_ata, pool.authority.pubkey(), pool.vault, pool.mint, pool.program,
                                  SYSTEM]
    route = Route.decode(bytes(message.instructions[3].data))
    assert (route.mint, route.direction, route.amount_in, route.quoted_out, route.threshold, route.extra_lamports) \
        == (pool.mint, 0, SOL // 10, int(quote["outAmount"]), int(quote["otherAmountThreshold"]), 0)
    static = set(message.account_keys)  # the pool's accounts come through the table, not as static keys
    assert not static & {pool.authority.pubkey(), pool.vault, pool.mint}
    assert bytes(message.instructions[1].data)[1:9] == (20_000 * 1_000_000 // 200_000).to_bytes(8, "little")


async def test_a_sell_is_compute_budget_and_the_route(http, localnet):
    token = localnet.token("BONK")
    user = Keypair().pubkey()
    _, transaction = await swap_transaction(http, user, token.mint, SOL_MINT, 10**5)
    _, instructions = resolved(localnet, transaction)
    assert [program for program, _ in instructions] == [COMPUTE_BUDGET, COMPUTE_BUDGET, JUPITER_PROGRAM_ID]
    assert Route.decode(bytes(transaction.message.instructions[2].data)).direction == 1


async def test_the_lookup_table_is_a_real_one_readable_over_rpc(client, localnet):
    pool = localnet.jupiter.pools[localnet.token("JUP").mint]
    account = (await client.get_account_info(pool.lookup_table)).value
    assert account.owner == ADDRESS_LOOKUP_TABLE_PROGRAM_ID
    table = AddressLookupTable.deserialize(bytes(account.data))
    assert list(table.addresses) == [pool.authority.pubkey(), pool.vault, pool.mint, pool.program, SYSTEM,
                                     ASSOCIATED_TOKEN_PROGRAM_ID]
    assert table.meta.deactivation_slot == 2**64 - 1 and table.meta.authority == pool.authority.pubkey()
    assert table.meta.last_extended_slot < localnet.chain.slot
    many = (await client.get_multiple_accounts([pool.lookup_table, pool.vault, Keypair().pubkey()])).value
    assert many[0].owner == ADDRESS_LOOKUP_TABLE_PROGRAM_ID and many[1] is not None and many[2] is None


async def test_get_multiple_accounts_refuses_more_than_a_hundred_keys_like_mainnet(localnet):
    keys = [str(Keypair().pubkey()) for _ in range(101)]
    async with httpx.AsyncClient() as http:
        reply = (await http.post(localnet.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getMultipleAccounts",
                                                         "params": [keys, {"encoding": "base64"}]})).json()
    assert reply["error"] == {"code": -32602, "message": "Too many inputs provided; max 100"}


async def test_a_landed_buy_and_sell_report_loaded_addresses_and_exact_effects(http, client, localnet):
    token = localnet.token("NINE")
    pool = localnet.jupiter.pools[token.mint]
    user = localnet.funded_keypair(sol=2)
    before = localnet.chain.sol_balance(user.pubkey())
    quote, transaction = await swap_transaction(http, user.pubkey(), SOL_MINT, token.mint, SOL // 2,
                                                priority=40_000)
    signature = (await client.send_raw_transaction(bytes(sign_as(user, transaction)))).value
    rpc = RpcGateway(localnet.rpc_url)
    try:
        effects = await rpc.transaction_effects(str(signature), owner=str(user.pubkey()), mint=token.mint)
        rent = localnet.chain.rent_exempt(165)
        assert not effects.error and effects.fee_lamports == 5000 + 40_000  # one signature + priority fee
        assert effects.sol_change_lamports == -(SOL // 2 + 45_000 + rent)
        assert effects.sol_change_lamports == localnet.chain.sol_balance(user.pubkey()) - before
        assert effects.token_change_raw == int(quote["outAmount"]) == localnet.chain.token_balance(user.pubkey(),
                                                                                                    token.mint)
        encoded = (await client.get_transaction(signature, encoding="json",
                                                max_supported_transaction_version=0)).value.transaction
        message = encoded.transaction.message  # history keeps the transaction as sent: the route, the lookups
        assert message.account_keys[message.instructions[-1].program_id_index] == JUPITER_PROGRAM_ID
        assert [lookup.account_key for lookup in message.address_table_lookups] == [pool.lookup_table]
        loaded = encoded.meta.loaded_addresses
        assert pool.authority.pubkey() in loaded.writable and pool.vault in loaded.writable
        assert pool.mint in loaded.readonly
        keys = list(encoded.transaction.message.account_keys) + list(loaded.writable) + list(loaded.readonly)
        assert len(encoded.meta.pre_balances) == len(keys) == len(encoded.meta.post_balances)
        vault_index = keys.index(pool.vault)
        assert any(b.account_index == vault_index for b in encoded.meta.post_token_balances)
        # Sell it all back: SOL comes back exactly as recorded.
        held = localnet.chain.token_balance(user.pubkey(), token.mint)
        before = localnet.chain.sol_balance(user.pubkey())
        quote, transaction = await swap_transaction(http, user.pubkey(), token.mint, SOL_MINT, held)
        signature = (await client.send_raw_transaction(bytes(sign_as(user, transaction)))).value
        effects = await rpc.transaction_effects(str(signature), owner=str(user.pubkey()), mint=token.mint)
        assert effects.token_change_raw == -held and effects.fee_lamports == 5000
        assert effects.sol_change_lamports == int(quote["outAmount"]) - 5000
        assert localnet.chain.sol_balance(user.pubkey()) - before == effects.sol_change_lamports
    finally:
        await rpc.close()


async def simulate(client, transaction, addresses, *, sig_verify=False, replace=True) -> SimulateTransactionResp:
    config = RpcSimulateTransactionConfig(sig_verify=sig_verify, replace_recent_blockhash=replace,
                                          accounts=RpcSimulateTransactionAccountsConfig(addresses,
                                                                                        UiAccountEncoding.Base64))
    return await client._provider.make_request(SimulateVersionedTransaction(transaction, config),
                                               SimulateTransactionResp)


async def test_an_unsigned_swap_simulates_with_the_users_accounts_afterwards(http, client, localnet):
    token = localnet.token("WIF")
    pool = localnet.jupiter.pools[token.mint]
    user = localnet.funded_keypair(sol=1)
    quote, transaction = await swap_transaction(http, user.pubkey(), SOL_MINT, token.mint, SOL // 10)
    user_ata = get_associated_token_address(user.pubkey(), pool.mint, pool.program)
    before = localnet.chain.sol_balance(user.pubkey())
    reserves = localnet.pool("WIF")
    value = (await simulate(client, transaction, [user.pubkey(), user_ata, Keypair().pubkey()])).value
    assert value.err is None and value.units_consumed > 0
    assert any(str(JUPITER_PROGRAM_ID) in line for line in value.logs)
    user_after, ata_after, nobody = value.accounts
    rent = localnet.chain.rent_exempt(165)
    assert user_after.lamports == before - SOL // 10 - 5000 - rent
    assert TokenAccount.from_bytes(bytes(ata_after.data)[:165]).amount == int(quote["outAmount"])
    assert nobody is None
    assert value.replacement_blockhash is not None
    # Nothing happened for real.
    assert localnet.chain.sol_balance(user.pubkey()) == before and localnet.pool("WIF") == reserves
    assert localnet.chain.account(user_ata) is None


async def test_simulation_refuses_conflicting_options_and_fails_cleanly(http, client, localnet):
    token = localnet.token("WIF")
    user = localnet.funded_keypair(sol=1)
    _, transaction = await swap_transaction(http, user.pubkey(), SOL_MINT, token.mint, SOL // 10)
    from solana.rpc.core import RPCException

    with pytest.raises(RPCException):  # mainnet: sigVerify may not be used with replaceRecentBlockhash
        await simulate(client, transaction, [user.pubkey()], sig_verify=True, replace=True)
    signed = (await simulate(client, transaction, [user.pubkey()], sig_verify=True, replace=False)).value
    assert signed.err is not None  # the unsigned transaction does not verify
    localnet.swap_as(localnet.funded_keypair(sol=400), SOL_MINT, token.mint, 300 * SOL)  # the price runs away
    value = (await simulate(client, transaction, [user.pubkey()])).value
    assert "0x1771" in value.logs[-1] and value.accounts is not None


async def test_a_forged_route_gets_the_live_price_not_what_its_data_claims(client, localnet):
    token = localnet.token("WHOLE")
    pool = localnet.jupiter.pools[token.mint]
    user = localnet.funded_keypair(sol=1)
    live = localnet.jupiter.quote_out(token.mint, sol_in=True, amount=SOL // 10)
    _, reserve = localnet.pool("WHOLE")
    transaction = localnet.jupiter.build_swap(pool, user.pubkey(), sol_in=True, amount=SOL // 10, out=reserve,
                                              threshold=0, priority_fee=0,
                                              blockhash=localnet.chain.latest_blockhash()[0])
    await client.send_raw_transaction(bytes(sign_as(user, transaction)))
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == live < reserve


# /swap/v1/swap-instructions: the same swap, as Jupiter's instruction groups.

async def swap_instructions(http, user: Pubkey, input_mint: str, output_mint: str, amount: int, *,
                            priority: int = 0) -> tuple[dict, dict]:
    quote = (await http.get("/swap/v1/quote", params={"inputMint": input_mint, "outputMint": output_mint,
                                                      "amount": str(amount), "slippageBps": "100"})).json()
    reply = await http.post("/swap/v1/swap-instructions", json={"quoteResponse": quote, "userPublicKey": str(user),
                                                                "prioritizationFeeLamports": priority})
    assert reply.status_code == 200, reply.text
    return quote, reply.json()


def as_instruction(body: dict):
    from solders.instruction import AccountMeta, Instruction

    return Instruction(Pubkey.from_string(body["programId"]), b64decode(body["data"]),
                       [AccountMeta(Pubkey.from_string(a["pubkey"]), a["isSigner"], a["isWritable"])
                        for a in body["accounts"]])


@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_swap_instructions_answer_jupiters_shape_with_the_same_instructions_as_the_swap(http, localnet, side):
    token = localnet.token("WIF")
    pool = localnet.jupiter.pools[token.mint]
    user = Keypair().pubkey()
    mints = (SOL_MINT, token.mint) if side == "buy" else (token.mint, SOL_MINT)
    amount = SOL // 10 if side == "buy" else 10**6
    quote, body = await swap_instructions(http, user, *mints, amount, priority=20_000)
    assert set(body) == {"tokenLedgerInstruction", "computeBudgetInstructions", "setupInstructions",
                         "swapInstruction", "cleanupInstruction", "otherInstructions", "addressLookupTableAddresses",
                         "prioritizationFeeLamports", "computeUnitLimit", "prioritizationType",
                         "dynamicSlippageReport", "simulationError"}
    assert body["tokenLedgerInstruction"] is None and body["cleanupInstruction"] is None
    assert body["otherInstructions"] == [] and body["simulationError"] is None
    assert body["addressLookupTableAddresses"] == [str(pool.lookup_table)]
    assert (body["computeUnitLimit"], body["prioritizationFeeLamports"]) == (200_000, 20_000)
    for instruction in [*body["computeBudgetInstructions"], *body["setupInstructions"], body["swapInstruction"]]:
        assert set(instruction) == {"programId", "accounts", "data"}
        assert all(set(meta) == {"pubkey", "isSigner", "isWritable"} for meta in instruction["accounts"])
    # The very instructions /swap compiles into its transaction.
    parts = localnet.jupiter.swap_parts(pool, user, sol_in=side == "buy", amount=amount, out=int(quote["outAmount"]),
                                        threshold=int(quote["otherAmountThreshold"]), priority_fee=20_000)
    groups = [*body["computeBudgetInstructions"], *body["setupInstructions"], body["swapInstruction"]]
    assert [as_instruction(ix) for ix in groups] == parts.instructions()
    assert [Pubkey.from_string(ix["programId"]) for ix in body["computeBudgetInstructions"]] == [COMPUTE_BUDGET] * 2
    assert [Pubkey.from_string(ix["programId"]) for ix in body["setupInstructions"]] == \
        ([ASSOCIATED_TOKEN_PROGRAM_ID] if side == "buy" else [])
    assert Pubkey.from_string(body["swapInstruction"]["programId"]) == JUPITER_PROGRAM_ID


async def test_swap_instructions_composed_by_the_client_land_like_the_swap(http, client, localnet):
    from solders.address_lookup_table_account import AddressLookupTableAccount
    from solders.hash import Hash
    from solders.message import MessageV0

    token = localnet.token("NINE")
    pool = localnet.jupiter.pools[token.mint]
    user = localnet.funded_keypair(sol=2)
    quote, body = await swap_instructions(http, user.pubkey(), SOL_MINT, token.mint, SOL // 2)
    table = AddressLookupTableAccount(pool.lookup_table, localnet.chain.lookup_table(pool.lookup_table))
    instructions = [as_instruction(ix) for ix in [*body["computeBudgetInstructions"], *body["setupInstructions"],
                                                  body["swapInstruction"]]]
    message = MessageV0.try_compile(user.pubkey(), instructions, [table],
                                    Hash.from_string(localnet.chain.latest_blockhash()[0]))
    transaction = VersionedTransaction(message, [user])
    await client.send_raw_transaction(bytes(transaction))
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == int(quote["outAmount"])


@pytest.mark.parametrize("attack", ["drain_transfer", "close_to_stranger", "inflated_priority_fee", "second_signer"])
async def test_swap_instructions_carry_the_venues_attack(http, localnet, attack):
    token = localnet.token("WIF")
    user = Keypair().pubkey()
    localnet.jupiter.attack = attack
    _, body = await swap_instructions(http, user, token.mint, SOL_MINT, 10**6, priority=1000)
    attacker = str(localnet.jupiter.attacker.pubkey())
    if attack in ("drain_transfer", "close_to_stranger"):  # after the route, where Jupiter's cleanup goes
        assert attacker in [meta["pubkey"] for meta in body["cleanupInstruction"]["accounts"]]
    elif attack == "inflated_priority_fee":  # where a client that sets its own compute budget would still sign it
        assert [Pubkey.from_string(ix["programId"]) for ix in body["setupInstructions"]] == [COMPUTE_BUDGET]
    else:
        signer = [m for m in body["swapInstruction"]["accounts"] if m["isSigner"] and m["pubkey"] == attacker]
        assert signer


async def test_swap_instructions_count_toward_the_rate_limit(localnet):
    """Jupiter's one window per API key covers every endpoint: a quote and a swap-instructions use it up."""
    knobs = localnet.knobs
    knobs.jupiter_rpm, key = 2, str(Keypair().pubkey())
    try:
        async with httpx.AsyncClient(base_url=localnet.jupiter_url, headers={"x-api-key": key}) as keyed:
            _, body = await swap_instructions(keyed, Keypair().pubkey(), SOL_MINT, localnet.token("WIF").mint,
                                              SOL // 100)
            assert body["swapInstruction"]
            refused = await keyed.post("/swap/v1/swap-instructions", json={})
    finally:
        knobs.jupiter_rpm = None
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


async def test_the_jupiter_client_reads_swap_instructions_as_solders_instructions(localnet):
    from kernel.chain.jupiter import JupiterClient

    token = localnet.token("WIF")
    pool = localnet.jupiter.pools[token.mint]
    user = Keypair().pubkey()
    jupiter = JupiterClient(localnet.jupiter_url)
    try:
        quote = await jupiter.quote(input_mint=SOL_MINT, output_mint=token.mint, amount=SOL // 10, slippage_bps=100)
        answer = await jupiter.swap_instructions(quote=quote, user_public_key=str(user), priority_fee_lamports=7_000)
    finally:
        await jupiter.close()
    parts = localnet.jupiter.swap_parts(pool, user, sol_in=True, amount=SOL // 10, out=quote.out_amount,
                                        threshold=quote.min_out_amount, priority_fee=7_000)
    assert list(answer.compute_budget) == parts.compute_budget and list(answer.setup) == parts.setup
    assert answer.swap == parts.route and answer.cleanup is None and answer.other == ()
    assert answer.lookup_tables == (str(pool.lookup_table),)
    assert (answer.compute_unit_limit, answer.prioritization_fee_lamports) == (200_000, 7_000)
