"""python -m localnet: start the local network, swap venue and Telegram stand-in, print the environment lines to
point the bot at them, then chat with the bot as a user from this terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from localnet import Localnet, state
from localnet.hostile import MAINNET_DROP_RATE, PROFILES
from localnet.venue import ATTACKS

USER_ID = 1000


def _apply_profile(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The profile's knobs, where the command line left them at their defaults."""
    knobs = PROFILES[args.profile](slot_ms=args.slot_ms or 400)
    knobs["drop_rate"] = MAINNET_DROP_RATE
    for name, value in knobs.items():
        if hasattr(args, name) and getattr(args, name) == parser.get_default(name):
            setattr(args, name, value)


def main(argv: list[str] | None = None) -> None:
    # Ctrl-C, or SIGINT from a script, stops localnet even when a shell started it in the background (where SIGINT
    # comes ignored, and Python then never turns it into KeyboardInterrupt); a supervisor's SIGTERM does the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m localnet", description=__doc__)
    parser.add_argument("--rpc-port", type=int, default=0)
    parser.add_argument("--jupiter-port", type=int, default=0)
    parser.add_argument("--telegram-port", type=int, default=0)
    parser.add_argument("--block-engine-port", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="print the environment lines only; no chat console")
    parser.add_argument("--state", type=Path, default=state.DEFAULT_PATH, metavar="FILE",
                        help="keep the chain (accounts, tokens, pools), the ports and the bot token in FILE between "
                             "runs (default: .localnet/state.json)")
    parser.add_argument("--fresh", action="store_true",
                        help="start a new chain, replacing the state file (then start the bot on a new database too)")
    parser.add_argument("--no-state", action="store_true", help="a new chain that is not kept")
    parser.add_argument("--attack", choices=ATTACKS, default=None,
                        help="hostile swap venue: every swap it builds carries this attack")
    hostile = parser.add_argument_group("a network as hostile as mainnet (every knob off unless given)")
    hostile.add_argument("--profile", choices=sorted(PROFILES), default=None,
                         help="mainnet: every knob as on a busy mainnet day (slot clock 400 ms, 30%% of sends "
                              "dropped, a lagging node, a fee market, Jupiter's free tier, late mints, a "
                              "sandwicher); a knob given as well wins")
    hostile.add_argument("--slot-ms", type=int, default=None,
                         help="a slot clock: a block every N ms on its own (mainnet: 400), statuses processed -> "
                              "confirmed -> finalized; without it, a block per landed transaction")
    hostile.add_argument("--strict-limits", action=argparse.BooleanOptionalAction, default=True,
                         help="mainnet's limits (on by default): 256 signatures per getSignatureStatuses, -32015 "
                              "for a v0 getTransaction without maxSupportedTransactionVersion")
    hostile.add_argument("--lagging-rpc-port", type=int, default=0)
    hostile.add_argument("--lag-slots", type=int, default=0,
                         help="the second RPC node (its URL is printed) serves the chain this many slots old: "
                              "a fresher blockhash is 'Blockhash not found' at its preflight")
    hostile.add_argument("--lag-error-rate", type=float, default=0.0,
                         help="share of the lagging node's reads that fail with -32005 (node behind) or -32016 "
                              "(minimum context slot not reached)")
    hostile.add_argument("--priority-fee", type=int, default=0, dest="priority_fee_level",
                         help="the fee market's level in micro-lamports per compute unit "
                              "(getRecentPrioritizationFees answers it)")
    hostile.add_argument("--underpriced-drop-rate", type=float, default=0.0,
                         help="probability that a send attempt paying a compute-unit price below the level is "
                              "dropped (accepted, never lands)")
    hostile.add_argument("--jupiter-rpm", type=int, default=None,
                         help="Jupiter's rate limit (free tier: 60): over it, HTTP 429 with Retry-After")
    hostile.add_argument("--launch-confirm-slots", type=int, default=0,
                         help="a launch's mint reads as missing for N slots after its processed notification, as "
                              "a mint not yet at confirmed")
    hostile.add_argument("--sandwich-min-lamports", type=int, default=None,
                         help="a sandwicher on the public RPC: buys of at least this many lamports sent with "
                              "sendTransaction are front-run and back-run down to their minimum output (bundles "
                              "sent to the block engine never are)")
    hostile.add_argument("--bundle-drop-rate", type=float, default=0.0,
                         help="probability that the block engine loses a bundle (accepted, never lands; a resend "
                              "may land)")
    hostile.add_argument("--seed", type=int, default=None, help="make the random draws reproducible")
    hostile.add_argument("--drop-rate", type=float, default=0.0,
                         help="drop each sendTransaction attempt with this probability (0 to 1), as congested "
                              "leaders do; a resend of the same transaction may land")
    hostile.add_argument("--drop-seed", type=int, default=None,
                         help="seed of the drops, for a repeatable run (default: --seed, else 0)")
    args = parser.parse_args(argv)
    if args.profile:
        _apply_profile(parser, args)
    if not 0 <= args.drop_rate <= 1:
        parser.error("--drop-rate must be between 0 and 1")
    if not 0 <= args.bundle_drop_rate <= 1:
        parser.error("--bundle-drop-rate must be between 0 and 1")
    ports = {"rpc": args.rpc_port, "jupiter": args.jupiter_port, "telegram": args.telegram_port,
             "lagging_rpc": args.lagging_rpc_port, "block_engine": args.block_engine_port}
    knobs = {"sandwich_min_lamports": args.sandwich_min_lamports, "bundle_drop_rate": args.bundle_drop_rate,
             "slot_ms": args.slot_ms, "strict_limits": args.strict_limits, "lag_slots": args.lag_slots,
             "lag_error_rate": args.lag_error_rate, "priority_fee_level": args.priority_fee_level,
             "underpriced_drop_rate": args.underpriced_drop_rate, "jupiter_rpm": args.jupiter_rpm,
             "launch_confirm_slots": args.launch_confirm_slots, "seed": args.seed}
    autosave = None
    if args.no_state:
        localnet = Localnet(**{f"{name}_port": port for name, port in ports.items()}, **knobs).serve()
        localnet.seed()
    else:
        try:
            started = state.start(args.state, fresh=args.fresh, ports=ports, **knobs)
        except (state.StateError, OSError) as err:
            parser.exit(2, f"localnet: {err}\n")
        localnet = started.localnet
        autosave = state.Autosave(localnet, args.state).start()
        print(f"# chain restored from {args.state} (slot {localnet.chain.slot}, {started.accounts} accounts); "
              "--fresh starts a new one" if started.restored else
              f"# a new chain, kept in {args.state} for the next run", file=sys.stderr, flush=True)
    localnet.jupiter.attack = args.attack
    localnet.chain.set_drop_rate(args.drop_rate, seed=args.drop_seed if args.drop_seed is not None else args.seed or 0)
    if args.drop_rate:
        print(f"# HOSTILE chain: each sendTransaction attempt is dropped with probability {args.drop_rate}",
              file=sys.stderr, flush=True)
    if args.sandwich_min_lamports is not None:
        print(f"# HOSTILE network: buys of {args.sandwich_min_lamports} lamports or more sent to the public RPC are "
              "sandwiched", file=sys.stderr, flush=True)
    if args.attack:
        print(f"# HOSTILE swap venue: every swap carries {args.attack!r}; the attacker is "
              f"{localnet.jupiter.attacker.pubkey()}", file=sys.stderr, flush=True)
    try:
        _announce(localnet, args)
        if args.quiet:
            threading.Event().wait()
        else:
            _console(localnet)
    except (KeyboardInterrupt, EOFError):
        pass
    finally:
        if autosave is not None:
            autosave.stop()
        localnet.stop()
        print("\nlocalnet stopped." + (f" Its chain is kept in {args.state}." if autosave else ""), file=sys.stderr)


def _announce(localnet: Localnet, args: argparse.Namespace) -> None:
    print("\n".join(localnet.env_lines()), flush=True)
    print(f"# lagging RPC node ({args.lag_slots} slots behind): {localnet.lagging_rpc_url}", file=sys.stderr,
          flush=True)
    if args.quiet:
        return
    print("\n# Tokens:", flush=True)
    for token in localnet.tokens.values():
        print(f"#   {token.symbol:6} {token.mint} (decimals {token.decimals})", flush=True)
    kept = "" if args.no_state else " (the same lines on every run: the chain is kept)"
    print(f"\n# Put the lines above in .env{kept} with a WALLET_ENCRYPTION_KEY, run `make run` in another\n"
          "# terminal, then type here as Telegram user 1000. `/press N` presses button N of the last message;\n"
          "# `/airdrop ADDRESS SOL` funds a wallet; Ctrl-C stops.\n", flush=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _console(localnet: Localnet) -> None:
    telegram = localnet.telegram
    last: dict | None = None
    threading.Thread(target=_printer, args=(telegram,), daemon=True).start()
    while True:
        line = input().strip()
        if not line:
            continue
        if line.startswith("/press "):
            last = _last_with_buttons(telegram)
            buttons = [b for row in (last or {}).get("reply_markup", {}).get("inline_keyboard", []) for b in row]
            index = int(line.split()[1]) - 1 if line.split()[1].isdigit() else -1
            if not 0 <= index < len(buttons):
                print(f"# no button {line.split()[1]}; the last message has {len(buttons)}")
                continue
            telegram.press_sync(USER_ID, last, buttons[index]["callback_data"])
        elif line.startswith("/airdrop "):
            _, address, sol = line.split()
            localnet.chain.airdrop(address, int(float(sol) * 10**9))
            print(f"# airdropped {sol} SOL to {address}")
        else:
            telegram.send_text_sync(USER_ID, line, username="localnet_user")


def _printer(telegram) -> None:
    while True:
        try:
            reply = telegram.next_reply_sync(USER_ID, timeout=3600)
        except TimeoutError:
            continue
        buttons = [b["text"] for row in (reply.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        marker = "(edited) " if reply["method"] == "editMessageText" else ""
        print(f"\nbot> {marker}{reply['text']}")
        for number, text in enumerate(buttons, start=1):
            print(f"     [{number}] {text}")


def _last_with_buttons(telegram) -> dict | None:
    for message in reversed(telegram.messages(USER_ID)):
        if message.get("reply_markup"):
            return message
    return None


if __name__ == "__main__":
    main()
