"""What inspecting a swap before signing costs: the static checks alone (lookup tables cached), the static checks
with the simulation of the net effect, and the first inspection of a swap whose lookup table is not cached yet.
Swaps come from localnet's Jupiter-shaped venue (v0, a real lookup table); localnet may add latency to every HTTP
request, as a network would. Prints figures; asserts nothing.

    .venv/bin/python -m bench.inspection_latency [--swaps 200] [--latency-ms 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import time

from bench._django import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start() as localnet:
        figures = asyncio.run(_run(localnet, args.swaps, args.latency_ms))
    for name, values in figures["ms"].items():
        print(f"{name:<34} median {values['median']:7.2f} ms   p99 {values['p99']:7.2f} ms   (n={values['n']})")
    print(figures["summary"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


async def _run(localnet, swaps: int, latency_ms: int) -> dict:
    from custody.inspection import SwapInspector, SwapRequest
    from kernel.chain.jupiter import SOL_MINT, JupiterClient
    from kernel.chain.rpc import RpcGateway

    rpc, jupiter = RpcGateway(localnet.rpc_url), JupiterClient(localnet.jupiter_url)
    owner = localnet.funded_keypair(sol=100).pubkey()
    token = localnet.token("BONK")
    info = await rpc.mint_info(token.mint)
    static_ms, simulated_ms, cold_ms = [], [], []
    for server in (localnet.rpc, localnet.jupiter):
        server.faults.latency_ms = latency_ms
    try:
        for index in range(swaps):
            amount = 10**7 + index  # a new quote and transaction each time
            quote = await jupiter.quote(input_mint=SOL_MINT, output_mint=token.mint, amount=amount, slippage_bps=100)
            swap = await jupiter.swap_transaction(quote=quote, user_public_key=str(owner), priority_fee_lamports=1000)
            holdings = await rpc.holdings(str(owner))
            request = SwapRequest(owner=str(owner), side="buy", mint=token.mint, token_program=info.program_id,
                                  amount=amount, slippage_bps=100, priority_fee_cap=1000)
            fresh = SwapInspector(rpc)  # a new cache: the lookup table must be fetched
            await rpc.rent_exempt_minimum(200)
            cold_ms.append(await _timed(fresh.inspect(swap.transaction, request, quote=quote, holdings=holdings,
                                                      simulate=False)))
            static_ms.append(await _timed(fresh.inspect(swap.transaction, request, quote=quote, holdings=holdings,
                                                        simulate=False)))
            simulated_ms.append(await _timed(fresh.inspect(swap.transaction, request, quote=quote,
                                                           holdings=holdings, simulate=True)))
    finally:
        await rpc.close()
        await jupiter.close()
    figures = {"static checks, table cached": static_ms, "static checks + simulation": simulated_ms,
               "first swap, table not cached": cold_ms}
    stats = {name: {"median": round(statistics.median(v), 3), "p99": round(_p(v, 99), 3), "n": len(v)}
             for name, v in figures.items()}
    simulated = stats["static checks + simulation"]
    summary = (f"inspection of {swaps} swaps at {latency_ms} ms added latency: static checks median "
               f"{stats['static checks, table cached']['median']} ms; with simulation median {simulated['median']} "
               f"ms, p99 {simulated['p99']} ms; first swap of a new table median "
               f"{stats['first swap, table not cached']['median']} ms")
    return {"name": "inspection_latency", "full": True, "result": "measured", "latency_ms": latency_ms,
            "swaps": swaps, "ms": stats, "summary": summary}


async def _timed(work) -> float:
    started = time.perf_counter()
    await work
    return (time.perf_counter() - started) * 1000


def _p(values: list[float], percentile: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percentile / 100))]


if __name__ == "__main__":
    main()
