"""The Jupiter-shaped swap venue: quote, swap, sign with a fresh keypair, send through the real AsyncClient."""

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException

from kernel.chain.jupiter import JupiterClient
from localnet.venue import SOL_MINT, sign_as

SOL = 10**9


async def _quote(http, input_mint, output_mint, amount, slippage=100):
    response = await http.get("/swap/v1/quote", params={"inputMint": input_mint, "outputMint": output_mint,
                                                        "amount": str(amount), "slippageBps": str(slippage)})
    return response


async def _swap_and_send(http, localnet, quote: dict, keypair):
    body = (await http.post("/swap/v1/swap", json={"quoteResponse": quote, "userPublicKey": str(keypair.pubkey()),
                                                   "wrapAndUnwrapSol": True, "dynamicComputeUnitLimit": True,
                                                   "prioritizationFeeLamports": 0})).json()
    from base64 import b64decode

    from solders.transaction import VersionedTransaction

    transaction = sign_as(keypair, VersionedTransaction.from_bytes(b64decode(body["swapTransaction"])))
    async with AsyncClient(localnet.rpc_url, commitment=Confirmed) as client:
        return (await client.send_raw_transaction(bytes(transaction))).value, body


async def test_a_swap_moves_exactly_what_was_quoted_and_k_never_decreases(http, localnet):
    token = localnet.token("NINE")
    user = localnet.funded_keypair(sol=5)
    sol_reserve, token_reserve = localnet.pool("NINE")
    quote = (await _quote(http, SOL_MINT, token.mint, SOL)).json()
    assert {"inAmount", "outAmount", "otherAmountThreshold", "slippageBps", "priceImpactPct", "routePlan",
            "contextSlot"} <= set(quote)
    user_sol = localnet.chain.sol_balance(user.pubkey())
    await _swap_and_send(http, localnet, quote, user)
    out = int(quote["outAmount"])
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == out
    new_sol, new_tokens = localnet.pool("NINE")
    assert (new_sol, new_tokens) == (sol_reserve + SOL, token_reserve - out)
    assert new_sol * new_tokens >= sol_reserve * token_reserve
    rent = localnet.chain.rent_exempt(165)
    assert localnet.chain.sol_balance(user.pubkey()) == user_sol - SOL - 5000 - rent  # one signature: the user's


async def test_a_second_swap_after_a_large_trade_gets_a_worse_price(http, localnet):
    token = localnet.token("WHOLE")
    before = int((await _quote(http, SOL_MINT, token.mint, SOL)).json()["outAmount"])
    whale = localnet.funded_keypair(sol=200)
    big = (await _quote(http, SOL_MINT, token.mint, 100 * SOL)).json()
    await _swap_and_send(http, localnet, big, whale)
    after = int((await _quote(http, SOL_MINT, token.mint, SOL)).json()["outAmount"])
    assert after < before


async def test_a_stale_quote_beyond_slippage_is_refused_with_jupiters_error(http, localnet):
    token = localnet.token("WIF")
    user = localnet.funded_keypair(sol=5)
    quote = (await _quote(http, SOL_MINT, token.mint, SOL, slippage=50)).json()
    localnet.swap_as(localnet.funded_keypair(sol=200), SOL_MINT, token.mint, 150 * SOL)  # the price runs away
    with pytest.raises(RPCException) as caught:
        await _swap_and_send(http, localnet, quote, user)
    logs = caught.value.args[0].data.logs
    assert any("0x1771" in line for line in logs)
    assert localnet.chain.token_balance(user.pubkey(), token.mint) == 0


@pytest.mark.parametrize(("params", "code"), [
    ({"inputMint": SOL_MINT, "outputMint": "11111111111111111111111111111112", "amount": "100"},
     "TOKEN_NOT_TRADABLE"),
    ({"inputMint": SOL_MINT, "outputMint": "notamint", "amount": "100"}, "INVALID_MINT"),
    ({"inputMint": SOL_MINT, "amount": "100"}, "INVALID_REQUEST"),
    ({"inputMint": SOL_MINT, "outputMint": SOL_MINT, "amount": "100"}, "COULD_NOT_FIND_ANY_ROUTE"),
])
async def test_bad_quotes_answer_like_jupiter(http, params, code):
    response = await http.get("/swap/v1/quote", params=params)
    assert response.status_code == 400 and response.json()["errorCode"] == code


async def test_an_unlisted_mint_has_no_route(http, localnet):
    unlisted = localnet.create_token("NOROUTE", decimals=6, pool_sol_lamports=SOL, pool_tokens_raw=10**9,
                                     listed=False)
    response = await _quote(http, SOL_MINT, unlisted.mint, SOL)
    assert response.json()["errorCode"] == "COULD_NOT_FIND_ANY_ROUTE"


async def test_prices_in_batches_of_at_most_fifty(localnet):
    client = JupiterClient(localnet.jupiter_url)
    try:
        mints = [t.mint for t in localnet.tokens.values()][:40]  # the session localnet gains tokens as tests run
        before = localnet.jupiter.requests["/price/v3"]
        prices = await client.sol_prices(mints)
        assert set(prices) >= {localnet.token("BONK").mint, localnet.token("WIF").mint}
        assert localnet.jupiter.requests["/price/v3"] == before + 1
        await client.usd_prices([str(i) for i in range(120)])  # 120 ids: three requests of at most 50
        assert localnet.jupiter.requests["/price/v3"] == before + 1 + 3
    finally:
        await client.close()


async def test_fifty_mints_cost_one_price_request_once_sols_price_is_known(localnet):
    """SOL's price rides along while a batch has room; 50 mints fill one exactly, so SOL's recent price is reused
    (5,000 mints: 100 requests, not 101)."""
    client = JupiterClient(localnet.jupiter_url)
    try:
        mints = [localnet.token("BONK").mint] * 2 + [str(i) for i in range(49)]  # 50 distinct ids
        before = localnet.jupiter.requests["/price/v3"]
        first = await client.sol_prices(mints)
        assert localnet.jupiter.requests["/price/v3"] == before + 2  # SOL is not known yet: a second request
        second = await client.sol_prices(mints)
        assert localnet.jupiter.requests["/price/v3"] == before + 3
        assert second[localnet.token("BONK").mint] == first[localnet.token("BONK").mint]
    finally:
        await client.close()


async def test_jupiter_faults_are_seen_by_the_client(localnet):
    client = JupiterClient(localnet.jupiter_url, attempts=1, timeout=0.3)
    try:
        localnet.jupiter.faults.fail_next(1, status=503)
        from kernel.chain.errors import JupiterError

        with pytest.raises(JupiterError) as caught:
            await client.usd_prices([localnet.token("BONK").mint])
        assert caught.value.status == 503
        localnet.jupiter.faults.hang_next(1, seconds=1)
        with pytest.raises(JupiterError, match="timed out"):
            await client.usd_prices([localnet.token("BONK").mint])
    finally:
        await client.close()
