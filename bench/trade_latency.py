"""Time from execute_buy start to the transaction being sent, and to confirmed, with localnet adding a fixed
latency to every HTTP request. Prints figures; asserts nothing.

    .venv/bin/python -m bench.trade_latency [--latency-ms 50] [--buys 20]

Round trips are counted from localnet's request log: the number of distinct sequential waves of requests the bot
made before sendTransaction.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench._django import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--buys", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start() as localnet:
        asyncio.run(_run(localnet, args.latency_ms, args.buys))


async def _run(localnet, latency_ms: int, buys: int) -> None:
    from asgiref.sync import sync_to_async

    from custody.services import get_or_create_user_wallet
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring

    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000",
                          "MAX_POSITION_SIZE_SOL": "5"})
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    wallet = (await sync_to_async(get_or_create_user_wallet)(42, "bench", config=config)).wallet
    localnet.chain.airdrop(wallet.public_key, 100 * 10**9)
    mint = localnet.token("BONK").mint
    await engine.execute_buy(telegram_user_id=42, mint=mint, lamports=10**7)  # warm connections and caches
    for server in (localnet.rpc, localnet.jupiter):
        server.faults.latency_ms = latency_ms
    to_send, to_confirm, waves = [], [], []
    for _ in range(buys):
        marks: dict[str, float] = {}

        async def progress(step: str, marks=marks) -> None:
            marks[step] = time.perf_counter()

        log_start = time.time()
        started = time.perf_counter()
        await engine.execute_buy(telegram_user_id=42, mint=mint, lamports=10**7, progress=progress)
        done = time.perf_counter()
        to_send.append((marks["Confirming…"] - started) * 1000)
        to_confirm.append((done - started) * 1000)
        waves.append(_waves_before_send(localnet, log_start, latency_ms))
    await rpc.close()
    await jupiter.close()
    rounds = statistics.median(waves)
    own = statistics.median(to_send) - rounds * latency_ms
    print(f"latency added per HTTP request: {latency_ms} ms, buys: {buys}")
    print(f"start -> sent      median {statistics.median(to_send):7.1f} ms  p90 {_p(to_send, 90):7.1f} ms")
    print(f"start -> confirmed median {statistics.median(to_confirm):7.1f} ms  p90 {_p(to_confirm, 90):7.1f} ms")
    if latency_ms:
        print(f"sequential round trips before and including the send: {rounds:g}")
    print(f"own work before send (median time - round trips x latency, includes localnet's processing): "
          f"{own:.1f} ms")


def _waves_before_send(localnet, since: float, latency_ms: int) -> int:
    """Requests that start within half a latency of the previous one run in parallel: one round trip."""
    waves, last = 0, None
    for started, name in localnet.request_log(since=since):
        if last is None or (started - last) * 1000 > latency_ms * 0.5:
            waves += 1
        last = started
        if name == "sendTransaction":
            break
    return waves


def _p(values: list[float], percentile: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percentile / 100))]


if __name__ == "__main__":
    main()
