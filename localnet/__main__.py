"""python -m localnet: start the local network, swap venue and Telegram stand-in, print the environment lines to
point the bot at them, then chat with the bot as a user from this terminal."""

from __future__ import annotations

import argparse
import sys
import threading

from localnet import Localnet
from localnet.venue import ATTACKS

USER_ID = 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localnet", description=__doc__)
    parser.add_argument("--rpc-port", type=int, default=0)
    parser.add_argument("--jupiter-port", type=int, default=0)
    parser.add_argument("--telegram-port", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="print the environment lines only; no chat console")
    parser.add_argument("--attack", choices=ATTACKS, default=None,
                        help="hostile swap venue: every swap it builds carries this attack")
    parser.add_argument("--drop-rate", type=float, default=0.0,
                        help="drop each sendTransaction attempt with this probability (0 to 1), as congested "
                             "leaders do; a resend of the same transaction may land")
    parser.add_argument("--drop-seed", type=int, default=0, help="seed of the drops, for a repeatable run")
    args = parser.parse_args(argv)
    if not 0 <= args.drop_rate <= 1:
        parser.error("--drop-rate must be between 0 and 1")
    localnet = Localnet.start_on(rpc_port=args.rpc_port, jupiter_port=args.jupiter_port,
                                 telegram_port=args.telegram_port)
    localnet.jupiter.attack = args.attack
    localnet.chain.set_drop_rate(args.drop_rate, seed=args.drop_seed)
    if args.drop_rate:
        print(f"# HOSTILE chain: each sendTransaction attempt is dropped with probability {args.drop_rate}",
              file=sys.stderr, flush=True)
    if args.attack:
        print(f"# HOSTILE swap venue: every swap carries {args.attack!r}; the attacker is "
              f"{localnet.jupiter.attacker.pubkey()}", file=sys.stderr, flush=True)
    print("\n".join(localnet.env_lines()), flush=True)
    if not args.quiet:
        print("\n# Seeded tokens:", flush=True)
        for token in localnet.tokens.values():
            print(f"#   {token.symbol:6} {token.mint} (decimals {token.decimals})", flush=True)
        print("\n# Put the lines above in .env (plus WALLET_ENCRYPTION_KEY), run `make run` in another terminal,\n"
              "# then type here as Telegram user 1000. `/press N` presses button N of the last message;\n"
              "# `/airdrop ADDRESS SOL` funds a wallet; Ctrl-C stops.\n", flush=True)
    try:
        if args.quiet:
            threading.Event().wait()
        else:
            _console(localnet)
    except (KeyboardInterrupt, EOFError):
        pass
    finally:
        localnet.stop()
        print("\nlocalnet stopped.", file=sys.stderr)


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
