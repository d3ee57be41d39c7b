"""The one place that reads the environment.

``get_config()`` returns a frozen, typed ``TradingConfig`` built once from the process environment and the
project's ``.env`` file (real environment variables win). Every invalid value stops start-up with one line that
names the variable, says what is wrong and shows a good value; secrets are never echoed back.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import overload
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from kernel.money import AmountError, parse_decimal, sol_to_lamports

BASE_DIR = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)

DEFAULT_RPC = "https://api.mainnet-beta.solana.com"
PUMP_FUN_PROGRAM = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
GENERATE_KEY_HINT = "generate one with: python manage.py generate_encryption_key"
_TELEGRAM_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")


class ConfigError(Exception):
    """An environment variable is missing or invalid. ``str()`` is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str, example: str) -> None:
        self.variable = variable
        super().__init__(f"{variable} {problem}; for example: {example}")


@dataclass(frozen=True)
class TradingLimits:
    max_trade_size_sol: Decimal
    max_daily_loss_sol: Decimal
    stop_loss_percentage: Decimal | None
    take_profit_percentage: Decimal | None
    default_slippage_bps: int
    default_priority_fee_lamports: int
    default_snipe_amount_sol: Decimal
    max_daily_spend_sol: Decimal = Decimal(10)
    max_slippage_bps: int = 1500

    @property
    def max_daily_spend_lamports(self) -> int:
        return sol_to_lamports(self.max_daily_spend_sol)

    @property
    def max_trade_size_lamports(self) -> int:
        return sol_to_lamports(self.max_trade_size_sol)

    @property
    def max_daily_loss_lamports(self) -> int:
        return sol_to_lamports(self.max_daily_loss_sol)

    @property
    def default_snipe_amount_lamports(self) -> int:
        return sol_to_lamports(self.default_snipe_amount_sol)


@dataclass(frozen=True)
class CustodyPolicy:
    """How money leaving is guarded (issue 9): second-factor lockout, withdrawal delays, token screening."""

    allowlist_delay_seconds: int = 24 * 3600
    large_withdrawal_delay_seconds: int = 2 * 3600
    totp_max_failures: int = 5
    totp_lock_seconds: int = 15 * 60
    max_transfer_fee_bps: int = 100


MAKE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


@dataclass(frozen=True)
class TradingConfig:
    trading: TradingLimits
    database_url: str
    solana_rpc_url: str  # the primary full node
    solana_fallback_urls: tuple[str, ...]  # more full nodes: reads move to them when the primary fails; sends too
    solana_send_urls: tuple[str, ...]  # send-only endpoints every send and resend also goes to
    jupiter_api_url: str
    redis_url: str | None
    telegram_api_base_url: str | None
    telegram_webhook_url: str | None
    admin_telegram_ids: frozenset[int]
    debug: bool
    allowed_hosts: tuple[str, ...]
    monitor_interval_seconds: int
    user_rate_limit: int
    jupiter_requests_per_minute: int  # 0: no budget (the API's own limit still answers 429)
    rpc_timeout_seconds: int
    # How often a sent transaction's same bytes are sent again while it is not confirmed (0: sent once).
    rebroadcast_seconds: float
    bot_metrics_port: int
    solana_ws_url: str
    snipe_program_ids: tuple[str, ...]
    snipe_min_liquidity_sol: Decimal
    snipe_queue_size: int
    snipe_workers: int
    snipe_retention_days: int
    # Secrets: kept out of repr so a config printed in a log or a traceback never shows them.
    wallet_encryption_keys: tuple[str, ...] = field(repr=False)
    telegram_bot_token: str | None = field(repr=False)
    jupiter_api_key: str | None = field(repr=False)
    telegram_webhook_secret: str | None = field(repr=False)
    secret_key: str = field(repr=False)
    secret_key_is_ephemeral: bool = False
    custody: CustodyPolicy = field(default_factory=CustodyPolicy)
    trusted_proxies: tuple[str, ...] = ()
    # Swap inspection (issue 14): tip accounts of a configured MEV-protection service a swap may pay, and which
    # trades are simulated before signing ("all", or "automatic": stop-loss/take-profit sales and snipes only).
    swap_tip_accounts: tuple[str, ...] = ()
    swap_simulation: str = "all"
    # Compose each swap from Jupiter's /swap-instructions (the bot's own compute budget; a full exit closes the
    # emptied token account, returning its rent) instead of signing the transaction /swap builds.
    swap_compose: bool = True
    # MEV protection: the Jito-shaped block engine protected trades are sent to as bundles (None: not offered).
    jito_block_engine_url: str | None = None
    # The offline sandbox (make sandbox): the web chat page over localnet's Telegram stand-in; never in production.
    sandbox: bool = False
    # Paper trading: PAPER_TRADING runs the whole bot on paper (no trade is ever signed or sent, /paper off is
    # refused); otherwise each trader chooses with /paper on|off. A paper book starts with PAPER_START_SOL.
    paper_trading: bool = False
    paper_start_lamports: int = 10_000_000_000

    def require_encryption_keys(self) -> tuple[str, ...]:
        if not self.wallet_encryption_keys:
            raise ConfigError("WALLET_ENCRYPTION_KEY", f"is not set ({GENERATE_KEY_HINT})",
                              "WALLET_ENCRYPTION_KEY=<the printed key> in .env")
        return self.wallet_encryption_keys

    def require_webhook(self) -> tuple[str, str]:
        missing = self._missing_webhook_settings()
        if missing:
            raise missing[0]
        assert self.telegram_webhook_url and self.telegram_webhook_secret
        return self.telegram_webhook_url, self.telegram_webhook_secret

    def _missing_webhook_settings(self) -> list[ConfigError]:
        missing = []
        if not self.telegram_webhook_url:
            missing.append(ConfigError("TELEGRAM_WEBHOOK_URL", "is not set (the public HTTPS address Telegram posts "
                                       "updates to, ending in /telegram/webhook/)",
                                       "TELEGRAM_WEBHOOK_URL=https://bot.example.com/telegram/webhook/"))
        if not self.telegram_webhook_secret:
            missing.append(ConfigError("TELEGRAM_WEBHOOK_SECRET", "is not set (every worker checks it on each update)",
                                       "TELEGRAM_WEBHOOK_SECRET=<1-256 letters, digits, _ or ->"))
        return missing

    def require_secret_key(self) -> str:
        """A serving process (the bot, the web app) does not start without a SECRET_KEY unless DEBUG is on: a key
        made up per process would sign each worker's admin sessions differently, and differently after a restart.
        Commands that serve nothing (generate_encryption_key, migrate, healthcheck) run without one."""
        if self.secret_key_is_ephemeral and not self.debug:
            raise ConfigError("SECRET_KEY", "is not set (with DEBUG off it must be set, the same for every process)",
                              f"SECRET_KEY=<the output of: {MAKE_SECRET_KEY}> in .env")
        return self.secret_key

    def require_telegram_token(self) -> str:
        if not self.telegram_bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN", "is not set (ask @BotFather on Telegram for a bot token)",
                              "TELEGRAM_BOT_TOKEN=123456789:AAH... in .env")
        return self.telegram_bot_token

    def missing_to_run_bot(self, *, webhook: bool = False) -> list[ConfigError]:
        """Every setting the bot still needs, all at once: a first run names them together, before anything (a
        migration, a connection) happens, instead of one per attempt."""
        missing = []
        for check in (self.require_secret_key, self.require_telegram_token, self.require_encryption_keys):
            try:
                check()
            except ConfigError as err:
                missing.append(err)
        return missing + (self._missing_webhook_settings() if webhook else [])


def describe_missing(problems: list[ConfigError]) -> str:
    """One message naming every missing or invalid setting: one line for one, a heading and a line each for
    several."""
    if len(problems) == 1:
        return f"Configuration error: {problems[0]}"
    names = ", ".join(err.variable for err in problems)
    state = "are not set" if all(" is not set" in str(err) for err in problems) else "are missing or invalid"
    lines = [f"Configuration error: {len(problems)} settings {state} ({names}). Set them in .env (start from "
             ".env.example) and run again:"]
    lines += [f"  - {err}" for err in problems]
    return "\n".join(lines)


@cache
def get_config() -> TradingConfig:
    """The process-wide configuration, read once."""
    return load_config(_process_environment())


def configuration_problems() -> tuple[TradingConfig | None, list[ConfigError]]:
    """Every invalid setting of the process environment at once, not only the first: each one found is set aside
    (its default stands in) and the rest are read again. Returns the config read that way, with the problems."""
    remaining = _process_environment()
    problems: list[ConfigError] = []
    while True:
        try:
            return load_config(remaining), problems
        except ConfigError as err:
            problems.append(err)
            if remaining.pop(err.variable, None) is None:  # not a variable of ours: nothing left to set aside
                return None, problems


def new_wallet_key_from_environment() -> str | None:
    """rotate_wallet_key's new key, NEW_WALLET_ENCRYPTION_KEY: from the environment, never the command line (shell
    history, the process list)."""
    return _Reader(_process_environment()).text("NEW_WALLET_ENCRYPTION_KEY")


def _rpc_nodes(reader: _Reader) -> tuple[str, tuple[str, ...]]:
    """SOLANA_RPC_URLS lists full nodes, the primary first; SOLANA_RPC_URL alone names one. Both may be set only if
    they agree on the primary."""
    example = "SOLANA_RPC_URLS=https://primary.example,https://fallback.example"
    nodes = reader.urls("SOLANA_RPC_URLS", example=example)
    single = reader.url("SOLANA_RPC_URL", default=None)
    if not nodes:
        return single or DEFAULT_RPC, ()
    if single is not None and single != nodes[0]:
        raise ConfigError("SOLANA_RPC_URL", "names another node than the first of SOLANA_RPC_URLS (the primary); set "
                                            "only SOLANA_RPC_URLS", example)
    return nodes[0], tuple(dict.fromkeys(node for node in nodes[1:] if node != nodes[0]))


def load_config(environment: Mapping[str, str]) -> TradingConfig:
    """Build and validate a config from a mapping of variables (the environment, or a test's dict)."""
    reader = _Reader(environment)
    secret_key = reader.text("SECRET_KEY")
    rpc_url, fallback_urls = _rpc_nodes(reader)
    return TradingConfig(
        trading=_limits(reader),
        database_url=reader.database_url(),
        solana_rpc_url=rpc_url,
        solana_fallback_urls=fallback_urls,
        solana_send_urls=reader.urls("SOLANA_SEND_URLS", example="SOLANA_SEND_URLS=https://a.example,"
                                                                 "https://b.example"),
        jupiter_api_url=reader.secure_url("JUPITER_API_URL", default="https://api.jup.ag"),
        jupiter_api_key=reader.text("JUPITER_API_KEY"),
        redis_url=reader.url("REDIS_URL", schemes=("redis", "rediss", "unix"), example="redis://127.0.0.1:6379/0"),
        telegram_bot_token=reader.telegram_token(),
        telegram_api_base_url=reader.url("TELEGRAM_API_BASE_URL"),
        telegram_webhook_url=reader.url("TELEGRAM_WEBHOOK_URL", example="TELEGRAM_WEBHOOK_URL=https://bot.example.com"
                                                                        "/telegram/webhook/"),
        telegram_webhook_secret=reader.webhook_secret("TELEGRAM_WEBHOOK_SECRET"),
        admin_telegram_ids=reader.telegram_ids("ADMIN_TELEGRAM_IDS"),
        wallet_encryption_keys=reader.fernet_keys("WALLET_ENCRYPTION_KEY"),
        secret_key=secret_key or Fernet.generate_key().decode(),
        secret_key_is_ephemeral=secret_key is None,
        debug=reader.boolean("DEBUG", default=False),
        allowed_hosts=reader.hosts("ALLOWED_HOSTS", default=("localhost", "127.0.0.1", "[::1]")),
        trusted_proxies=reader.ip_addresses("TRUSTED_PROXIES"),
        solana_ws_url=reader.url("SOLANA_WS_URL", schemes=("ws", "wss"), example="SOLANA_WS_URL=wss://api.mainnet-"
                                 "beta.solana.com") or _ws_from_http(reader.url("SOLANA_RPC_URL", default=DEFAULT_RPC)),
        snipe_program_ids=reader.pubkeys("SNIPE_PROGRAM_IDS", default=(PUMP_FUN_PROGRAM,)),
        snipe_min_liquidity_sol=reader.sol("SNIPE_MIN_LIQUIDITY_SOL", default="5"),
        snipe_queue_size=reader.integer("SNIPE_QUEUE_SIZE", default=100, minimum=1, maximum=100_000,
                                        example="SNIPE_QUEUE_SIZE=100 (launches waiting for a snipe worker)"),
        snipe_workers=reader.integer("SNIPE_WORKERS", default=4, minimum=1, maximum=64, example="SNIPE_WORKERS=4"),
        snipe_retention_days=reader.integer("SNIPE_RETENTION_DAYS", default=7, minimum=1, maximum=3650,
                                            example="SNIPE_RETENTION_DAYS=7"),
        bot_metrics_port=reader.integer("BOT_METRICS_PORT", default=9108, minimum=0, maximum=65535,
                                        example="BOT_METRICS_PORT=9108 (0 turns the bot's exporter off)"),
        user_rate_limit=reader.integer("USER_RATE_LIMIT", default=10, minimum=1, maximum=10_000,
                                       example="USER_RATE_LIMIT=10 (messages and presses per user per 10 seconds)"),
        jupiter_requests_per_minute=reader.integer(
            "JUPITER_REQUESTS_PER_MINUTE", default=0, minimum=0, maximum=1_000_000,
            example="JUPITER_REQUESTS_PER_MINUTE=60 (your Jupiter plan's limit; trades go before price polls)"),
        monitor_interval_seconds=reader.integer("MONITOR_INTERVAL_SECONDS", default=2, minimum=1, maximum=3600,
                                                example="MONITOR_INTERVAL_SECONDS=2"),
        rpc_timeout_seconds=reader.integer("RPC_TIMEOUT_SECONDS", default=10, minimum=1, maximum=120,
                                           example="RPC_TIMEOUT_SECONDS=10"),
        rebroadcast_seconds=reader.seconds("REBROADCAST_SECONDS", default="0.4", maximum=60,
                                           example="REBROADCAST_SECONDS=0.4 (0 sends each transaction once)"),
        custody=_custody(reader),
        swap_tip_accounts=reader.pubkeys("SWAP_TIP_ACCOUNTS", default=()),
        swap_simulation=reader.choice("SWAP_SIMULATION", default="all", choices=("all", "automatic")),
        swap_compose=reader.boolean("SWAP_COMPOSE", default=True),
        jito_block_engine_url=reader.private_url(
            "JITO_BLOCK_ENGINE_URL", example="JITO_BLOCK_ENGINE_URL=https://mainnet.block-engine.jito.wtf"),
        sandbox=reader.boolean("SANDBOX", default=False),
        paper_trading=reader.boolean("PAPER_TRADING", default=False),
        paper_start_lamports=_paper_start(reader),
    )


def _paper_start(reader: _Reader) -> int:
    lamports = sol_to_lamports(reader.sol("PAPER_START_SOL", default="10"))
    if lamports <= 0:
        raise ConfigError("PAPER_START_SOL", "must be more than 0 (the virtual SOL a paper book starts with)",
                          "PAPER_START_SOL=10")
    return lamports


def _custody(reader: _Reader) -> CustodyPolicy:
    return CustodyPolicy(
        allowlist_delay_seconds=3600 * reader.integer(
            "WITHDRAWAL_ALLOWLIST_DELAY_HOURS", default=24, minimum=0, maximum=24 * 30,
            example="WITHDRAWAL_ALLOWLIST_DELAY_HOURS=24"),
        large_withdrawal_delay_seconds=60 * reader.integer(
            "LARGE_WITHDRAWAL_DELAY_MINUTES", default=120, minimum=0, maximum=60 * 24 * 7,
            example="LARGE_WITHDRAWAL_DELAY_MINUTES=120"),
        totp_max_failures=reader.integer("TOTP_MAX_FAILURES", default=5, minimum=1, maximum=100,
                                         example="TOTP_MAX_FAILURES=5"),
        totp_lock_seconds=60 * reader.integer("TOTP_LOCK_MINUTES", default=15, minimum=1, maximum=60 * 24,
                                              example="TOTP_LOCK_MINUTES=15"),
        max_transfer_fee_bps=reader.integer("SCREEN_MAX_TRANSFER_FEE_BPS", default=100, minimum=0, maximum=10_000,
                                            example="SCREEN_MAX_TRANSFER_FEE_BPS=100 (1%)"),
    )


def _limits(reader: _Reader) -> TradingLimits:
    max_slippage = reader.integer("MAX_SLIPPAGE_BPS", default=1500, minimum=1, maximum=10_000,
                                  example="MAX_SLIPPAGE_BPS=1500 (15%)")
    default_slippage = reader.integer("DEFAULT_SLIPPAGE_BPS", default=100, minimum=1, maximum=10_000,
                                      example="DEFAULT_SLIPPAGE_BPS=100 (1%)")
    if default_slippage > max_slippage:
        raise ConfigError("DEFAULT_SLIPPAGE_BPS", f"is above MAX_SLIPPAGE_BPS ({default_slippage} > "
                          f"{max_slippage}); the default must be allowed",
                          f"DEFAULT_SLIPPAGE_BPS=100 with MAX_SLIPPAGE_BPS={max_slippage}")
    return TradingLimits(
        max_trade_size_sol=reader.sol("MAX_POSITION_SIZE_SOL", legacy="MAX_TRADE_SIZE_SOL", default="1.0"),
        max_daily_loss_sol=reader.sol("MAX_DAILY_LOSS_SOL", legacy="DAILY_LOSS_LIMIT_SOL", default="2.0"),
        stop_loss_percentage=reader.percentage("STOP_LOSS_PERCENTAGE"),
        take_profit_percentage=reader.percentage("TAKE_PROFIT_PERCENTAGE"),
        default_slippage_bps=default_slippage,
        default_priority_fee_lamports=reader.integer("DEFAULT_PRIORITY_FEE_LAMPORTS", default=100_000, minimum=0,
                                                     maximum=1_000_000_000,
                                                     example="DEFAULT_PRIORITY_FEE_LAMPORTS=100000 (0.0001 SOL)"),
        default_snipe_amount_sol=reader.sol("DEFAULT_SNIPE_AMOUNT_SOL", default="0.1"),
        max_daily_spend_sol=reader.sol("MAX_DAILY_SPEND_SOL", default="10"),
        max_slippage_bps=max_slippage,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Reader:
    """Typed reads over one mapping, each failing with a ConfigError an operator can act on."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def text(self, name: str) -> str | None:
        value = self._values.get(name, "").strip()
        return value or None

    def _preferred_or_legacy(self, name: str, legacy: str | None) -> tuple[str, str | None]:
        value = self.text(name)
        if legacy is not None and value is not None and self.text(legacy) is not None:
            logger.warning("Both %s and the deprecated %s are set; %s wins. Remove %s.", name, legacy, name, legacy)
        if value is not None or legacy is None:
            return name, value
        legacy_value = self.text(legacy)
        if legacy_value is not None:
            logger.warning("%s is deprecated; rename it to %s (same meaning). Using %s=%s for now.",
                           legacy, name, legacy, legacy_value)
        return legacy, legacy_value

    def sol(self, name: str, *, default: str, legacy: str | None = None) -> Decimal:
        source, value = self._preferred_or_legacy(name, legacy)
        example = f"{name}=1.5"
        try:
            amount = parse_decimal(value if value is not None else default)
            sol_to_lamports(amount)
        except AmountError as err:
            raise ConfigError(source, f"{err.problem} (got {value!r}); it is an amount of SOL", example) from None
        return amount

    def percentage(self, name: str) -> Decimal | None:
        value = self.text(name)
        if value is None or value.lower() in {"off", "none"}:
            return None
        example = f"{name}=20 (meaning 20%), or leave it empty to turn it off"
        try:
            number = parse_decimal(value.removesuffix("%"))
        except AmountError as err:
            raise ConfigError(name, f"{err.problem} (got {value!r}); it is a percentage", example) from None
        if number > 100:
            raise ConfigError(name, f"must be between 0 and 100 (got {value!r})", example)
        return number

    def integer(self, name: str, *, default: int, minimum: int, maximum: int, example: str) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not value.isascii() or not value.isdigit():
            raise ConfigError(name, f"must be a whole number (got {value!r})", example)
        number = int(value)
        if not minimum <= number <= maximum:
            raise ConfigError(name, f"must be between {minimum} and {maximum} (got {value!r})", example)
        return number

    def seconds(self, name: str, *, default: str, maximum: int, example: str) -> float:
        """A duration from 0 to ``maximum`` seconds, fractions allowed (a time, never money)."""
        value = self.text(name)
        try:
            number = parse_decimal(value if value is not None else default, allow_zero=True)
        except AmountError as err:
            raise ConfigError(name, f"{err.problem}; it is a number of seconds", example) from None
        if number > maximum:
            raise ConfigError(name, f"must be between 0 and {maximum} (got {value!r})", example)
        return float(number)

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(name, f"must be true or false (got {value!r})", f"{name}=false")

    @overload
    def url(self, name: str, *, default: str, schemes: tuple[str, ...] = ..., example: str | None = ...) -> str: ...

    @overload
    def url(self, name: str, *, default: None = ..., schemes: tuple[str, ...] = ...,
            example: str | None = ...) -> str | None: ...

    def url(self, name: str, *, default: str | None = None, schemes: tuple[str, ...] = ("http", "https"),
            example: str | None = None) -> str | None:
        value = self.text(name) or default
        if value is None:
            return None
        return self._valid_url(name, value, schemes, example)

    def urls(self, name: str, *, example: str) -> tuple[str, ...]:
        """Several http(s) URLs separated by commas; none when unset."""
        value = self.text(name)
        if value is None:
            return ()
        return tuple(self._valid_url(name, part.strip(), ("http", "https"), example)
                     for part in value.split(",") if part.strip())

    def _valid_url(self, name: str, value: str, schemes: tuple[str, ...], example: str | None) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.hostname):
            shown = " or ".join(f"{s}://" for s in schemes)
            raise ConfigError(name, f"is not a valid URL (got {_redact_url(value)!r}; it must start with {shown} "
                                    "and name a host)", example or f"{name}=https://example.com")
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise ConfigError(name, f"has an invalid port (got {_redact_url(value)!r})",
                              example or f"{name}=http://127.0.0.1:8899") from None
        return value.rstrip("/")

    def secure_url(self, name: str, *, default: str) -> str:
        """An https:// URL, or plain http:// to this machine only: whatever answers this URL writes the
        transactions the bot signs, so nothing on the way may read or change them."""
        value = self.url(name, default=default)
        parts = urlsplit(value)
        if parts.scheme != "https" and not _is_loopback(parts.hostname or ""):
            raise ConfigError(name, f"must use https:// unless it points at this machine (got {_redact_url(value)!r})",
                              f"{name}=https://api.jup.ag")
        return value

    def private_url(self, name: str, *, example: str) -> str | None:
        """An optional https:// URL (plain http:// to this machine only) that signed transactions are sent to in
        private: read on the way, they would be public, and a protected trade could be sandwiched after all."""
        value = self.url(name, example=example)
        if value is not None and urlsplit(value).scheme != "https" and not _is_loopback(urlsplit(value).hostname or ""):
            raise ConfigError(name, f"must use https:// unless it points at this machine (got {_redact_url(value)!r})",
                              example)
        return value

    def choice(self, name: str, *, default: str, choices: tuple[str, ...]) -> str:
        value = (self.text(name) or default).lower()
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)} (got {value[:40]!r})", f"{name}={default}")
        return value

    def database_url(self) -> str:
        value = self.text("DATABASE_URL")
        if value is None:
            return f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
        example = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingbot (or sqlite:////path/to/db.sqlite3)"
        scheme = urlsplit(value).scheme
        if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
            raise ConfigError("DATABASE_URL", f"must be a sqlite:// or postgres:// URL (got {_redact_url(value)!r})",
                              example)
        if scheme != "sqlite" and not urlsplit(value).hostname:
            raise ConfigError("DATABASE_URL", f"names no host (got {_redact_url(value)!r})", example)
        return value

    def telegram_token(self) -> str | None:
        value = self.text("TELEGRAM_BOT_TOKEN")
        if value is not None and not _TELEGRAM_TOKEN.match(value):
            raise ConfigError("TELEGRAM_BOT_TOKEN", "is not a bot token (expected digits, a colon, then the secret "
                                                    "part @BotFather gave you)", "TELEGRAM_BOT_TOKEN=123456789:AAH...")
        return value

    def webhook_secret(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ConfigError(name, "may only contain letters, digits, _ and - (1 to 256 of them), as Telegram "
                                    "requires", f"{name}=$(python -c 'import secrets; print(secrets.token_hex(32))')")
        return value

    def telegram_ids(self, name: str) -> frozenset[int]:
        value = self.text(name)
        if value is None:
            return frozenset()
        ids = set()
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            if not item.isascii() or not item.isdigit():
                raise ConfigError(name, f"must be numeric Telegram user ids separated by commas (got {item!r})",
                                  f"{name}=123456789,987654321")
            ids.add(int(item))
        return frozenset(ids)

    def fernet_keys(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        keys = tuple(key.strip() for key in value.split(",") if key.strip())
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                # Never echo the value: even a malformed key may be most of a real one.
                raise ConfigError(name, f"key #{position} is not a valid Fernet key (it must be 32 url-safe "
                                        f"base64-encoded bytes; {GENERATE_KEY_HINT})",
                                  f"{name}=<new key>,<old key>") from None
        return keys

    def pubkeys(self, name: str, *, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return default
        keys = tuple(key.strip() for key in value.split(",") if key.strip())
        for key in keys:
            if not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,44}", key):
                raise ConfigError(name, f"must be Solana program addresses separated by commas (got {key[:50]!r})",
                                  f"{name}={PUMP_FUN_PROGRAM}")
        return keys

    def ip_addresses(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        addresses = tuple(part.strip() for part in value.split(",") if part.strip())
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ConfigError(name, f"must be IP addresses separated by commas (got {address[:50]!r})",
                                  f"{name}=127.0.0.1") from None
        return addresses

    def hosts(self, name: str, *, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return default
        return tuple(host.strip() for host in value.split(",") if host.strip())


def _ws_from_http(url: str) -> str:
    """Solana nodes serve websockets on the same address with a ws scheme (local validators: port + 1)."""
    return "wss" + url[len("https"):] if url.startswith("https") else "ws" + url[len("http"):]


def _redact_url(url: str) -> str:
    """Hide a password in a URL before it is shown."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _process_environment() -> dict[str, str]:
    """The environment, on top of the ``.env`` file (or the file named by TRADINGBOT_ENV_FILE)."""
    env_file = Path(os.environ.get("TRADINGBOT_ENV_FILE", BASE_DIR / ".env"))
    values: dict[str, str] = {}
    if env_file.is_file():
        values.update(_read_env_file(env_file))
    values.update(os.environ)
    return values


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
