"""The world the tests, benchmarks and offline demo run in: a local Solana network (LiteSVM behind JSON-RPC),
a swap venue speaking Jupiter's API, and a Telegram Bot API stand-in. See localnet/README.md."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from decimal import Decimal

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from localnet.block_engine import BlockEngine
from localnet.chain import Chain, Token2022Extensions
from localnet.hostile import Journal, Knobs, SlotClock
from localnet.price_walk import PriceWalk
from localnet.rpc import RpcServer
from localnet.sandwich import Sandwich, Sandwicher
from localnet.telegram import TelegramServer
from localnet.venue import SOL_MINT, Pool, SwapVenue, pool_authority_signs_first_time, sign_as
from localnet.ws import LogsServer

U64_MAX = 2**64 - 1
PUMP_FUN_PROGRAM = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
CREATE_EVENT_DISCRIMINATOR = bytes([27, 114, 169, 77, 222, 235, 99, 118])
SOL = 10**9


@dataclass(frozen=True)
class Token:
    symbol: str
    mint: str
    decimals: int
    program_id: str


# symbol, decimals, pool SOL, pool tokens (whole units unless noted) -> realistic-looking prices
DEFAULT_TOKENS = [
    ("BONK", 5, 2_000 * SOL, 80_000_000_000),       # ~0.000025 SOL
    ("WIF", 6, 3_000 * SOL, 2_000_000),              # ~0.0015 SOL
    ("JUP", 6, 3_000 * SOL, 500_000_000),            # ~0.000006 SOL
    ("NINE", 9, 1_000 * SOL, 1_000_000),             # ~0.001 SOL
    ("WHOLE", 0, 500 * SOL, 10_000_000),             # ~0.00005 SOL
]


class Localnet:
    """Five servers on free loopback ports sharing one chain (plus a second, lagging, RPC node).
    ``Localnet.start()`` or use as a context manager.

    Keyword arguments beyond the ports are the hostile knobs (``localnet.hostile.Knobs``, all off by default; the
    table in localnet/README.md says what each reproduces): ``slot_ms``, ``strict_limits``, ``lag_slots``,
    ``lag_error_rate``, ``priority_fee_level``, ``underpriced_drop_rate``, ``jupiter_rpm``, ``launch_confirm_slots``,
    ``sandwich_min_lamports``, ``bundle_drop_rate``, ``seed``. They stay
    settable on ``localnet.knobs`` while it runs; the slot clock through ``start_slot_clock`` / ``stop_slot_clock``."""

    sol_mint = SOL_MINT

    def __init__(self, *, sol_usd: Decimal = Decimal(150), rpc_port: int = 0, jupiter_port: int = 0,
                 telegram_port: int = 0, lagging_rpc_port: int = 0, block_engine_port: int = 0, ws_port: int = 0,
                 **knobs) -> None:
        self.knobs = Knobs(**knobs)
        self.chain = Chain()
        self.journal = journal = Journal()
        self.chain.on_landing = journal.record
        self.rpc = RpcServer(self.chain, knobs=self.knobs, journal=journal, port=rpc_port)
        self.lagging_rpc = RpcServer(self.chain, knobs=self.knobs, journal=journal, lagging=True,
                                     port=lagging_rpc_port)
        self.jupiter = SwapVenue(self.chain, sol_usd=sol_usd, knobs=self.knobs, port=jupiter_port)
        self.block_engine = BlockEngine(self.chain, knobs=self.knobs, port=block_engine_port)
        self.block_engine.fund_tip_accounts()
        self.jupiter.tip_accounts = list(self.block_engine.tip_accounts)
        # Transactions sent in the open pass the sandwicher (idle unless knobs.sandwich_min_lamports is set).
        self.sandwicher = Sandwicher(self.chain, self.jupiter, self.knobs)
        self.rpc.sandwicher = self.lagging_rpc.sandwicher = self.sandwicher
        self.telegram = TelegramServer(port=telegram_port)
        self.logs = LogsServer(port=ws_port)
        self.tokens: dict[str, Token] = {}
        self.faucet = Keypair()  # mint authority of tokens created with mint_authority_revoked=False
        self._clock: SlotClock | None = None
        self.price_walk: PriceWalk | None = None
        self.telegram.chat_room.directory = self.token_directory
        self.telegram.chat_room.mover = self.move_price

    @classmethod
    def start(cls, *, tokens: bool = True, price_walk: bool = False, **kwargs) -> Localnet:
        """Start the servers (and the slot clock if ``slot_ms`` is set); ``tokens``: list the default tokens;
        ``price_walk``: their prices move on their own (``localnet.price_walk``), for the sandbox. The other keyword
        arguments are the ports and the knobs (``seed`` among them: the random draws' seed)."""
        localnet = cls(**kwargs).serve()
        if tokens:
            localnet.seed()
        if price_walk:
            localnet.start_price_walk()
        return localnet

    def serve(self) -> Localnet:
        """Start the servers (the ports are already bound), and the slot clock if its knob is set."""
        for server in self._servers():
            server.start()
        if self.knobs.slot_ms:
            self.start_slot_clock(self.knobs.slot_ms)
        return self

    @classmethod
    def start_on(cls, *, rpc_port: int = 0, jupiter_port: int = 0, telegram_port: int = 0, **knobs) -> Localnet:
        return cls.start(rpc_port=rpc_port, jupiter_port=jupiter_port, telegram_port=telegram_port, **knobs)

    def stop(self) -> None:
        if self.price_walk is not None:
            self.price_walk.stop()
        self.stop_slot_clock()
        for server in self._servers():
            server.stop()

    def _servers(self) -> tuple:
        return self.rpc, self.lagging_rpc, self.jupiter, self.telegram, self.logs, self.block_engine

    def start_slot_clock(self, slot_ms: int) -> None:
        """Blocks from now on advance every ``slot_ms`` on their own (mainnet: 400)."""
        self.stop_slot_clock()
        self.knobs.slot_ms = slot_ms
        self._clock = SlotClock(self.chain, slot_ms).start()

    def stop_slot_clock(self) -> None:
        if self._clock is not None:
            self._clock.stop()
            self._clock = None
        self.knobs.slot_ms = None

    def start_price_walk(self, **options) -> PriceWalk:
        """A random walk with an occasional pump or rug over the seeded tokens (``localnet.price_walk``)."""
        if self.price_walk is not None:
            self.price_walk.stop()
        options.setdefault("seed", self.knobs.seed)
        self.price_walk = PriceWalk(self, symbols=self._walking_symbols(), **options).start()
        return self.price_walk

    def move_price(self, symbol: str, kind: str) -> None:
        """Pump or rug one of the walking tokens now (the sandbox page's buttons), whether or not the walk runs."""
        if kind not in ("pump", "rug") or symbol not in self._walking_symbols():
            raise ValueError(f"pump or rug one of {', '.join(self._walking_symbols())}")
        if self.price_walk is None:
            self.price_walk = PriceWalk(self, symbols=self._walking_symbols(), seed=self.knobs.seed)  # not started
        self.price_walk.pump(symbol) if kind == "pump" else self.price_walk.rug(symbol)

    def _walking_symbols(self) -> tuple[str, ...]:
        return tuple(symbol for symbol, *_ in DEFAULT_TOKENS if symbol in self.tokens)

    def token_directory(self) -> list[dict]:
        """The listed tokens with their pool price in SOL per whole token (display only), for the sandbox page."""
        listed = []
        for token in self.tokens.values():
            if token.mint not in self.jupiter.pools:
                continue
            sol_reserve, token_reserve = self.jupiter.reserves(token.mint)
            price = Decimal(sol_reserve) * 10**token.decimals / (Decimal(token_reserve) * SOL) if token_reserve else 0
            shown = f"{Decimal(f'{price:.6g}'):f}" if price >= Decimal("1e-12") else f"{price:.3e}"
            listed.append({"symbol": token.symbol, "mint": token.mint, "decimals": token.decimals,
                           "price_sol": shown, "movable": token.symbol in self._walking_symbols()})
        return listed

    def __enter__(self) -> Localnet:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def rpc_url(self) -> str:
        return self.rpc.url

    @property
    def lagging_rpc_url(self) -> str:
        """A second node on the same chain, ``knobs.lag_slots`` behind (the same as ``rpc_url`` at 0)."""
        return self.lagging_rpc.url

    @property
    def jupiter_url(self) -> str:
        return self.jupiter.url

    @property
    def block_engine_url(self) -> str:
        """The Jito-shaped block engine (``/api/v1/bundles``, ``/api/v1/transactions``)."""
        return self.block_engine.url

    @property
    def sandwiches(self) -> list[Sandwich]:
        """Every sandwich the public RPC's sandwicher landed (``knobs.sandwich_min_lamports``)."""
        return self.sandwicher.sandwiches

    @property
    def telegram_api_base_url(self) -> str:
        return self.telegram.url

    @property
    def ws_url(self) -> str:
        return self.logs.url

    def env_lines(self) -> list[str]:
        return [f"SOLANA_RPC_URL={self.rpc_url}", f"SOLANA_WS_URL={self.ws_url}", f"JUPITER_API_URL={self.jupiter_url}",
                f"TELEGRAM_API_BASE_URL={self.telegram_api_base_url}", f"TELEGRAM_BOT_TOKEN={self.telegram.token}",
                f"JITO_BLOCK_ENGINE_URL={self.block_engine_url}"]

    def seed(self) -> None:
        for symbol, decimals, pool_sol, pool_tokens in DEFAULT_TOKENS:
            self.create_token(symbol, decimals=decimals, pool_sol_lamports=pool_sol,
                              pool_tokens_raw=pool_tokens * 10**decimals)
        # A token whose supply is the u64 maximum: most of it sits in the pool.
        self.create_token("MAXI", decimals=0, pool_sol_lamports=SOL // 2, pool_tokens_raw=U64_MAX)

    def create_token(self, symbol: str, *, decimals: int, pool_sol_lamports: int, pool_tokens_raw: int,
                     freeze_authority: bool = False, mint_authority_revoked: bool = True,
                     token_2022: bool = False, listed: bool = True,
                     extensions: Token2022Extensions | None = None) -> Token:
        """A mint with a funded constant-product pool (``listed=False``: the mint exists, no route does).
        ``extensions`` makes a Token-2022 mint with those extensions, through the real Token-2022 program."""
        authority = Keypair()
        program = TOKEN_2022_PROGRAM_ID if token_2022 or extensions else TOKEN_PROGRAM_ID
        mint_authority = None if mint_authority_revoked else self.faucet.pubkey()
        freeze = self.faucet.pubkey() if freeze_authority else None
        if extensions is not None:
            mint = self.chain.create_mint_2022(decimals=decimals, mint_authority=mint_authority,
                                               freeze_authority=freeze, extensions=extensions)
        else:
            mint = self.chain.create_mint(decimals=decimals, program=program, mint_authority=mint_authority,
                                          freeze_authority=freeze)
        self.chain.mint_to(mint, authority.pubkey(), pool_tokens_raw)
        pool_authority_signs_first_time(self.chain, authority, pool_sol_lamports)
        if listed:
            self.jupiter.add_pool(Pool(symbol, mint, decimals, program, authority))
        token = Token(symbol, str(mint), decimals, str(program))
        self.tokens[symbol] = token
        return token

    def launch_token(self, symbol: str, *, pool_sol_lamports: int = 30 * SOL, pool_tokens_raw: int = 10**15,
                     decimals: int = 6, freeze_authority: bool = False, mint_authority_revoked: bool = True,
                     program: str = PUMP_FUN_PROGRAM, failed: bool = False) -> Token:
        """A new token appears the way pump.fun announces one: its launchpad program logs ``Instruction: Create``
        and a CreateEvent (name, symbol, uri, mint, bonding curve, creator) to logsSubscribe listeners."""
        token = self.create_token(symbol, decimals=decimals, pool_sol_lamports=pool_sol_lamports,
                                  pool_tokens_raw=pool_tokens_raw, freeze_authority=freeze_authority,
                                  mint_authority_revoked=mint_authority_revoked)
        self.jupiter.launched_at[token.mint] = time.monotonic()  # unknown to Price v3 for a while, as on mainnet
        if self.knobs.launch_confirm_slots:  # heard at processed: not yet there for a reader at confirmed
            self.journal.hold(Pubkey.from_string(token.mint),
                              until_slot=self.chain.slot + self.knobs.launch_confirm_slots)
        creator = Keypair().pubkey()
        event = CREATE_EVENT_DISCRIMINATOR + b"".join(
            len(text).to_bytes(4, "little") + text for text in (f"{symbol} coin".encode(), symbol.encode(),
                                                                  b"https://example.invalid/meta.json"))
        event += bytes(Pubkey.from_string(token.mint)) + bytes(Keypair().pubkey()) + bytes(creator)
        logs = [f"Program {program} invoke [1]", "Program log: Instruction: Create",
                f"Program data: {base64.b64encode(event).decode()}", f"Program {program} success"]
        signature = str(Keypair().sign_message(token.mint.encode()))
        self.logs.publish(slot=self.chain.slot, signature=signature, logs=logs, mentions=[program, token.mint],
                          err={"InstructionError": [0, {"Custom": 1}]} if failed else None)
        return token

    def token(self, symbol: str) -> Token:
        return self.tokens[symbol]

    def pool(self, symbol: str) -> tuple[int, int]:
        """(SOL reserve in lamports, token reserve in raw units)."""
        return self.jupiter.reserves(self.token(symbol).mint)

    def funded_keypair(self, *, sol: int = 10) -> Keypair:
        keypair = Keypair()
        self.chain.airdrop(keypair.pubkey(), sol * SOL)
        return keypair

    def swap_as(self, keypair: Keypair, input_mint: str, output_mint: str, amount_raw: int) -> str:
        """Another trader swaps (same code path as the bot's swaps): moves the price. Returns the signature.

        Selling tokens the keypair does not hold mints them to it first, so a test can dump a price at will."""
        sol_in = input_mint == SOL_MINT
        mint = output_mint if sol_in else input_mint
        pool = self.jupiter.pools[mint]
        if not sol_in:
            held = self.chain.token_balance(keypair.pubkey(), mint)
            if held < amount_raw:
                self.chain.mint_to(pool.mint, keypair.pubkey(), amount_raw - held)
        out = self.jupiter.quote_out(mint, sol_in=sol_in, amount=amount_raw)
        blockhash, _ = self.chain.latest_blockhash()
        transaction = self.jupiter.build_swap(pool, keypair.pubkey(), sol_in=sol_in, amount=amount_raw, out=out,
                                              threshold=out, priority_fee=0, blockhash=blockhash)
        result = self.chain.send(sign_as(keypair, transaction))
        if result.err is not None:
            raise RuntimeError(f"swap_as failed: {result.err} {result.logs[-2:]}")
        return result.signature

    def request_log(self, *, since: float = 0.0) -> list[tuple[float, str]]:
        """(start time, request name) for every RPC and swap API request since ``since`` (for benchmarks)."""
        entries = [e for server in (self.rpc, self.jupiter) for e in server.log if e[0] >= since]
        return sorted(entries)

    def clear_faults(self) -> None:
        """Faults off, sends no longer dropped at random, the swap venue honest again, no sandwicher, and every
        bundle offered to the block engine taken."""
        for server in (self.rpc, self.jupiter, self.telegram, self.block_engine):
            server.faults.clear()
        self.knobs.sandwich_min_lamports, self.knobs.bundle_drop_rate = None, 0.0
        self.chain.set_drop_rate(0)
        self.jupiter.attack = None


def pubkey(text: str) -> Pubkey:
    return Pubkey.from_string(text)


__all__ = ["SOL_MINT", "Localnet", "Token"]
