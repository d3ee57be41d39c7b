"""Composed swaps (SWAP_COMPOSE) against Jupiter's /swap transaction: lamports a buy-then-sell-all round trip leaves
locked in the token account, requests per trade, and sequential round trips before the send, with localnet adding
a fixed latency to every HTTP request. Prints figures; asserts nothing.

    .venv/bin/python -m bench.compose [--latency-ms 20] [--round-trips 10]

Each round trip buys a token the wallet never held for 0.01 SOL and sells it all, as a trader going from one new
token to the next does: with /swap, each leaves an empty token account holding its rent; composed, none does. The buy
is "cold" (the bot has not seen the token's lookup table: it is read), the sale "warm" (within the gateway's
lookup-table cache).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter

from bench._django import setup_django
from bench.trade_latency import _waves_before_send

SOL = 10**9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--round-trips", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start() as localnet:
        print(f"latency added per HTTP request: {args.latency_ms} ms; {args.round_trips} round trips "
              "(buy 0.01 SOL, sell all) per mode")
        print(f"{'mode':<9} {'left locked, all trips':>22} {'returned per exit':>18} {'RPC req/trade':>14} "
              f"{'Jupiter req/trade':>18} {'rounds before send buy/sell':>28}")
        for compose in (False, True):
            asyncio.run(_run(localnet, compose=compose, latency_ms=args.latency_ms, round_trips=args.round_trips))


async def _run(localnet, *, compose: bool, latency_ms: int, round_trips: int) -> None:
    from asgiref.sync import sync_to_async

    from custody.services import get_or_create_user_wallet
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.amounts import SellAmount
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring

    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000",
                          "MAX_POSITION_SIZE_SOL": "5", "SWAP_COMPOSE": str(compose).lower()})
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    user_id = 4200 + compose
    wallet = (await sync_to_async(get_or_create_user_wallet)(user_id, f"bench{user_id}", config=config)).wallet
    localnet.chain.airdrop(wallet.public_key, 100 * SOL)
    for server in (localnet.rpc, localnet.jupiter):
        server.faults.latency_ms = latency_ms
    locked, returned, cold, warm = [], [], [], []
    rpc_before, jupiter_before = Counter(localnet.rpc.requests), Counter(localnet.jupiter.requests)
    for index in range(round_trips):
        token = localnet.create_token(f"CMP{int(compose)}x{index}", decimals=6, pool_sol_lamports=500 * SOL,
                                      pool_tokens_raw=10**12)
        before = localnet.chain.sol_balance(wallet.public_key)
        since = time.time()
        bought = await engine.execute_buy(telegram_user_id=user_id, mint=token.mint, lamports=SOL // 100)
        cold.append(_waves_before_send(localnet, since, latency_ms))
        since = time.time()
        sold = await engine.execute_sell(telegram_user_id=user_id, mint=token.mint, amount=SellAmount.parse("all"))
        warm.append(_waves_before_send(localnet, since, latency_ms))
        spent = before - localnet.chain.sol_balance(wallet.public_key)
        locked.append(spent - (bought.lamports_in + bought.fee_lamports + sold.fee_lamports - sold.lamports_out))
        returned.append(sold.rent_returned_lamports)
    for server in (localnet.rpc, localnet.jupiter):
        server.faults.latency_ms = 0
    trades = 2 * round_trips
    rpc_requests = sum((Counter(localnet.rpc.requests) - rpc_before).values()) / trades
    jupiter_requests = sum((Counter(localnet.jupiter.requests) - jupiter_before).values()) / trades
    await rpc.close()
    await jupiter.close()
    mode = "composed" if compose else "/swap"
    print(f"{mode:<9} {sum(locked):>17,} lamp {statistics.median(returned):>13,.0f} lamp "
          f"{rpc_requests:>14.1f} {jupiter_requests:>18.1f} {statistics.median(cold):>16g} / "
          f"{statistics.median(warm):g}")


if __name__ == "__main__":
    main()
