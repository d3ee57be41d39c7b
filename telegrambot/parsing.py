"""Command arguments and typed values, parsed in one place. Every refusal says what was wrong and what to type."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from solders.pubkey import Pubkey

from kernel.errors import WordedError
from kernel.money import AmountError, parse_decimal, sol_to_lamports
from positions.amounts import SellAmount
from positions.errors import InvalidAmount
from positions.models import THRESHOLD_OFF
from positions.order_placing import TriggerKind, TriggerSpec
from telegrambot.refusals import refusal
from wallets.models import MAX_TIP_LAMPORTS, MIN_TIP_LAMPORTS, FeeLevel

EXAMPLE_MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
MAX_ARGUMENT_LENGTH = 100
# A billion SOL: more than exists, and within every lamport column (signed 64-bit on both databases).
MAX_LAMPORTS = 10**18
FEE_LEVELS = frozenset(FeeLevel.values)


class ParseError(WordedError):
    """What was typed cannot be read, or the command cannot be done as typed; the message (telegrambot's own words,
    so it carries them) says what to type."""

    code = "invalid_input"


@dataclass(frozen=True)
class BuyArgs:
    mint: str
    lamports: int


@dataclass(frozen=True)
class SellArgs:
    mint: str
    amount: SellAmount


@dataclass(frozen=True)
class WithdrawArgs:
    address: str
    lamports: int | None  # None = everything withdrawable


# Invisible characters a copy from a browser, a wallet app or a chat drags along: Unicode's format characters (Cf:
# zero-width space and joiners, left-to-right and right-to-left marks and overrides, the byte-order mark, soft
# hyphen) and the few blank letters outside Cf (combining grapheme joiner, Hangul fillers). Removed, never kept.
_ALSO_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0")


def visible(text: str) -> str:
    """``text`` without invisible characters, so a pasted address or amount reads as what the trader sees."""
    return "".join(char for char in text
                   if unicodedata.category(char) != "Cf" and char not in _ALSO_INVISIBLE)


def visible_args(args: Sequence[str]) -> list[str]:
    """A command's arguments without invisible characters, and without any argument that was nothing else."""
    cleaned = (visible(arg) for arg in args)
    return [arg for arg in cleaned if arg.strip()]


def looks_like_address(text: str) -> bool:
    return bool(_BASE58.match(visible(text).strip()))


def parse_address(text: str, *, what: str = "token mint address") -> str:
    value = visible(text).strip()
    if len(value) > MAX_ARGUMENT_LENGTH or not _BASE58.match(value):
        raise ParseError(f"'{_preview(value)}' is not a valid {what}. A Solana address is 32–44 letters and "
                         f"digits (no 0, O, I or l), like {EXAMPLE_MINT}.")
    try:
        Pubkey.from_string(value)
    except ValueError:
        raise ParseError(f"'{_preview(value)}' is not a valid {what}: it does not decode to 32 bytes.") from None
    return value


def parse_sol(text: str, *, what: str = "amount of SOL") -> int:
    try:
        lamports = sol_to_lamports(parse_decimal(_bounded(text)))
    except AmountError as err:
        raise ParseError(f"The {what} {err.problem}. Type SOL as a plain number, like 0.5.") from None
    if lamports > MAX_LAMPORTS:
        raise ParseError(f"The {what} is more than all the SOL there is. Type SOL as a plain number, like 0.5.")
    return lamports


def parse_buy_args(args: Sequence[str]) -> BuyArgs:
    args = visible_args(args)
    if len(args) != 2:
        raise ParseError(f"Usage: /buy <token mint> <SOL amount>\nFor example: /buy {EXAMPLE_MINT} 0.1\n"
                         "Or paste a mint address on its own to see the token and buy buttons.")
    return BuyArgs(mint=parse_address(args[0]), lamports=parse_sol(args[1]))


def parse_sell_args(args: Sequence[str]) -> SellArgs:
    args = visible_args(args)
    if len(args) != 2:
        raise ParseError(f"Usage: /sell <token mint> <all | token amount | percent>\n"
                         f"For example: /sell {EXAMPLE_MINT} 50%  or  /sell {EXAMPLE_MINT} all")
    mint = parse_address(args[0])
    try:
        amount = SellAmount.parse(_bounded(args[1]))
    except InvalidAmount as err:
        raise ParseError(refusal(err)) from None
    return SellArgs(mint=mint, amount=amount)


def parse_withdraw_args(args: Sequence[str]) -> WithdrawArgs:
    args = visible_args(args)
    if len(args) != 2:
        raise ParseError("Usage: /withdraw <destination address> <SOL amount | all>\n"
                         "For example: /withdraw 9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin 0.5")
    address = parse_address(args[0], what="destination wallet address")
    if visible(args[1]).strip().lower() in {"all", "max"}:
        return WithdrawArgs(address=address, lamports=None)
    return WithdrawArgs(address=address, lamports=parse_sol(args[1], what="amount to withdraw"))


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    prompt: str
    parse: object  # Callable[[str], object]


def parse_slippage_bps(text: str) -> int:
    percent = _decimal_in_range(text, "Slippage", low=Decimal("0.01"), high=Decimal(50), unit="%", example="1.5")
    bps = percent * 100
    if bps != bps.to_integral_value():
        raise ParseError("Slippage can have at most two decimals (0.01% steps), like 1.25.")
    return int(bps)


def parse_slippage_bps_or_off(text: str, *, name: str) -> int | None:
    """A slippage level in percent, or off (None)."""
    if _is_off(text):
        return None
    try:
        return parse_slippage_bps(text)
    except ParseError as err:
        raise ParseError(f"{name}: {err.user_message} Or type off.") from None


def parse_sol_or_off(text: str, *, name: str, allow_zero: bool = True) -> int | None:
    """An amount of SOL (0 allowed unless ``allow_zero`` is False), or off (None)."""
    if _is_off(text):
        return None
    example = "0.5" if allow_zero else "0.1"
    try:
        lamports = sol_to_lamports(parse_decimal(_bounded(text), allow_zero=allow_zero))
    except AmountError as err:
        raise ParseError(f"{name}: the amount {err.problem}. Type SOL as a plain number, like {example}, or "
                         "off.") from None
    if lamports > MAX_LAMPORTS:
        raise ParseError(f"{name}: that is more than all the SOL there is. Type a plain number, like {example}, or "
                         "off.")
    return lamports


def _is_off(text: str) -> bool:
    return visible(text).strip().lower() in {"off", "none", "disable"}


def parse_percentage_or_off(text: str, *, name: str, high: Decimal) -> Decimal | None:
    if visible(text).strip().lower() in {"off", "none", "0", "disable"}:
        return None
    value = _decimal_in_range(text, name, low=Decimal("0.1"), high=high, unit="%", example="25")
    if value != value.quantize(Decimal("0.01")):
        raise ParseError(f"{name} can have at most two decimals, like 12.5.")
    return value


def parse_position_threshold(text: str, *, name: str, high: Decimal) -> Decimal | None:
    """/sl and /tp on one position: a percentage; "off" turns it off on this position (THRESHOLD_OFF) whatever the
    default; "default" (None) follows /settings again."""
    word = visible(text).strip().lower()
    if word in {"default", "settings", "reset"}:
        return None
    if word in {"off", "none", "0", "disable"}:
        return THRESHOLD_OFF
    return parse_percentage_or_off(text, name=name, high=high)


def parse_positive_sol(text: str, *, name: str) -> int:
    return parse_sol(text, what=name.lower())


def parse_priority_fee(text: str) -> int:
    try:
        sol = parse_decimal(_bounded(text), allow_zero=True)
        lamports = sol_to_lamports(sol)
    except AmountError as err:
        raise ParseError(f"The priority fee {err.problem}. Type it in SOL, like 0.0001 (or 0 for none).") from None
    if lamports > 10_000_000:
        raise ParseError("A priority fee above 0.01 SOL is almost certainly a typo. Type at most 0.01, like 0.0001.")
    return lamports


def parse_tip(text: str) -> int:
    """MEV protection's tip: from Jito's minimum (1,000 lamports) to 0.01 SOL."""
    try:
        lamports = sol_to_lamports(parse_decimal(_bounded(text)))
    except AmountError as err:
        raise ParseError(f"The tip {err.problem}. Type it in SOL, like 0.0001.") from None
    if lamports < MIN_TIP_LAMPORTS:
        raise ParseError("The block engine takes no tip under 0.000001 SOL (1,000 lamports). Type at least "
                         "0.000001, like 0.0001.")
    if lamports > MAX_TIP_LAMPORTS:
        raise ParseError("A tip above 0.01 SOL is almost certainly a typo. Type at most 0.01, like 0.0001.")
    return lamports


def parse_fee_level(text: str) -> str:
    """A priority-fee level: one of wallets.models.FeeLevel's values ("custom", as other bots call it, is fixed:
    the trader's own amount)."""
    value = _bounded(text).strip().lower()
    value = FeeLevel.FIXED.value if value == "custom" else value
    if value not in FEE_LEVELS:
        raise ParseError("The fee level is fixed, fast or turbo. Type one of them.")
    return value


def parse_on_off(text: str, *, name: str) -> bool:
    value = visible(text).strip().lower()
    if value in {"on", "yes", "true", "1", "enable"}:
        return True
    if value in {"off", "no", "false", "0", "disable"}:
        return False
    raise ParseError(f"{name} is either on or off. Type on or off.")


def _decimal_in_range(text: str, name: str, *, low: Decimal, high: Decimal, unit: str, example: str) -> Decimal:
    raw = _bounded(text).strip().removesuffix("%")
    try:
        value = parse_decimal(raw)
    except AmountError as err:
        raise ParseError(f"{name} {err.problem}. Type a number from {low} to {high}{unit}, like {example}.") from None
    if not low <= value <= high:
        raise ParseError(f"{name} must be between {low} and {high}{unit}. Type a number like {example}.")
    return value


def _bounded(text: str) -> str:
    if len(text) > MAX_ARGUMENT_LENGTH:
        raise ParseError("That value is far too long. Type a short number, like 0.5.")
    return visible(text)


def _preview(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "..."


# Orders: /limit, /trail, /dca. Each part is read on its own, so a refusal names the part that is wrong.

LIMIT_USAGE = (f"Usage:\n/limit <mint> buy <SOL> at <price | mcap 50k | -20%> [for 24h]\n"
               f"/limit <mint> sell <all | N% | tokens> at <price | mcap 1m | 2x> [for 24h]\n"
               f"For example: /limit {EXAMPLE_MINT} buy 0.5 at -20%  or  /limit {EXAMPLE_MINT} sell 50% at 2x\n"
               "A price is in SOL per token; mcap is the market cap in SOL (k, m, b for thousands, millions, "
               "billions).")
TRAIL_USAGE = (f"Usage: /trail <mint> <N%> [from <price>]\nFor example: /trail {EXAMPLE_MINT} 15%  — sells all when "
               "the price falls 15% below its highest since now (from a price: once it has reached that price).")
DCA_USAGE = (f"Usage: /dca <mint> <SOL total> <parts> every <interval>\nFor example: /dca {EXAMPLE_MINT} 1 10 every 30m"
             "  — buys 0.1 SOL now and every 30 minutes, 10 times. Intervals: 30m, 1h, 1d.\n"
             "Or /dca <mint> sell all <parts> every <interval> to sell your position in parts.")
MAX_DCA_PARTS = 100
_MAGNITUDES = {"k": 10**3, "m": 10**6, "b": 10**9}
_UNITS = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class LimitArgs:
    mint: str
    side: str  # "buy" or "sell"
    trigger: TriggerSpec
    lamports: int = 0  # buy
    amount: SellAmount | None = None  # sell
    expires_in: timedelta | None = None


@dataclass(frozen=True)
class TrailArgs:
    mint: str
    percent: Decimal
    activation_sol: Decimal | None


@dataclass(frozen=True)
class DcaArgs:
    mint: str
    lamports: int  # a buy's total (0 for a sell)
    parts: int
    interval_seconds: int
    side: str = "buy"


def parse_limit_args(args: Sequence[str]) -> LimitArgs:
    words = [_bounded(a) for a in args]
    if len(words) < 5 or words[3].lower() != "at":
        raise ParseError(LIMIT_USAGE)
    mint, side = parse_address(words[0]), words[1].lower()
    if side not in {"buy", "sell"}:
        raise ParseError(f"'{_preview(words[1])}' is neither buy nor sell. " + LIMIT_USAGE)
    rest, expires_in = words[4:], None
    if len(rest) >= 2 and rest[-2].lower() == "for":
        expires_in = timedelta(seconds=parse_duration(rest[-1], what="expiry", longest=90 * 86400))
        rest = rest[:-2]
    trigger = parse_trigger(rest, side=side)
    if side == "buy":
        return LimitArgs(mint, side, trigger, lamports=parse_sol(words[2], what="amount of SOL to buy"),
                         expires_in=expires_in)
    try:
        amount = SellAmount.parse(words[2])
    except InvalidAmount as err:
        raise ParseError(refusal(err)) from None
    return LimitArgs(mint, side, trigger, amount=amount, expires_in=expires_in)


def parse_trigger(words: Sequence[str], *, side: str) -> TriggerSpec:
    """``0.0004`` (SOL per token), ``mcap 50k`` (SOL), ``-20%`` (buys: below the price now), ``2x`` (sells: times
    the entry price)."""
    text = " ".join(words)
    if len(words) == 2 and words[0].lower() == "mcap":
        return TriggerSpec(TriggerKind.MCAP, parse_market_cap(words[1]), text)
    if len(words) != 1:
        raise ParseError(f"I can't read the trigger '{_preview(text)}'. " + _trigger_hint(side))
    word = words[0].lower()
    if word.endswith("%"):
        if side != "buy" or not word.startswith("-"):
            raise ParseError("A percentage trigger is for buys, as a fall from the price now, like -20%. "
                             + _trigger_hint(side))
        value = _decimal_in_range(word[1:], "The fall", low=Decimal("0.1"), high=Decimal("99"), unit="%",
                                  example="-20%")
        return TriggerSpec(TriggerKind.FALL, value, text)
    if word.endswith("x"):
        if side != "sell":
            raise ParseError("A multiple (like 2x) is for sells: times your entry price. " + _trigger_hint(side))
        value = _decimal_in_range(word[:-1], "The multiple", low=Decimal("0.01"), high=Decimal(100_000), unit="x",
                                  example="2")
        return TriggerSpec(TriggerKind.MULTIPLE, value, text)
    try:
        return TriggerSpec(TriggerKind.PRICE, parse_decimal(word), text)
    except AmountError as err:
        raise ParseError(f"The price {err.problem}. " + _trigger_hint(side)) from None


def _trigger_hint(side: str) -> str:
    if side == "buy":
        return "Type a price in SOL per token (like 0.0004), a market cap (mcap 50k) or a fall (-20%)."
    return "Type a price in SOL per token (like 0.0004), a market cap (mcap 1m) or a multiple of your entry (2x)."


def parse_market_cap(text: str) -> Decimal:
    """A market cap in SOL: ``50000``, ``50k``, ``1.5m``, ``2b``."""
    raw = _bounded(text).strip().lower()
    scale = _MAGNITUDES.get(raw[-1:], 1)
    try:
        value = parse_decimal(raw[:-1] if scale > 1 else raw) * scale
    except AmountError as err:
        raise ParseError(f"The market cap {err.problem}. Type it in SOL, like 50k, 1.5m or 200000.") from None
    if value > MAX_LAMPORTS:
        raise ParseError("That market cap is more than all the SOL there is. Type it in SOL, like 50k or 1.5m.")
    return value


def parse_duration(text: str, *, what: str, shortest: int = 60, longest: int) -> int:
    """``30m``, ``1h``, ``1.5h``, ``2d`` → seconds."""
    raw = _bounded(text).strip().lower()
    unit = _UNITS.get(raw[-1:])
    try:
        if unit is None:
            raise AmountError("has no unit")
        seconds = parse_decimal(raw[:-1]) * unit
    except AmountError as err:
        raise ParseError(f"The {what} {err.problem}. Type a number with m, h or d, like 30m, 1h or 2d.") from None
    if not shortest <= seconds <= longest:
        raise ParseError(f"The {what} must be between {shortest // 60} minute(s) and {longest // 86400} days. "
                         "Type it like 30m, 1h or 2d.")
    return int(seconds)


def parse_trail_args(args: Sequence[str]) -> TrailArgs:
    words = [_bounded(a) for a in args]
    if len(words) not in (2, 4) or (len(words) == 4 and words[2].lower() != "from"):
        raise ParseError(TRAIL_USAGE)
    mint = parse_address(words[0])
    percent = _decimal_in_range(words[1], "The trailing distance", low=Decimal("0.5"), high=Decimal(99), unit="%",
                                example="15%")
    if percent != percent.quantize(Decimal("0.01")):
        raise ParseError("The trailing distance can have at most two decimals, like 12.5%.")
    activation = None
    if len(words) == 4:
        try:
            activation = parse_decimal(words[3])
        except AmountError as err:
            raise ParseError(f"The start price {err.problem}. Type it in SOL per token, like 0.0004.") from None
    return TrailArgs(mint, percent, activation)


def parse_dca_args(args: Sequence[str]) -> DcaArgs:
    """``<mint> <SOL total> <parts> every <interval>`` (a buy) or ``<mint> sell all <parts> every <interval>``."""
    words = [_bounded(a) for a in args]
    if len(words) == 6 and words[1].lower() == "sell":
        if words[2].lower() != "all":
            raise ParseError("A DCA sell sells your whole position in parts: type all, like "
                             f"/dca {EXAMPLE_MINT} sell all 4 every 1h (or use /limit or /sell for part of it).")
        words = [words[0], *words[2:]]  # as a buy's: mint, (amount), parts, every, interval
        side = "sell"
    else:
        side = "buy"
    if len(words) != 5 or words[3].lower() != "every":
        raise ParseError(DCA_USAGE)
    mint = parse_address(words[0])
    if side == "sell":
        return DcaArgs(mint, 0, _dca_parts(words[2]), parse_duration(words[4], what="interval", longest=30 * 86400),
                       side="sell")
    lamports = parse_sol(words[1], what="total amount of SOL")
    parts = _dca_parts(words[2])
    if lamports // parts == 0:
        raise ParseError("Each part would be less than a lamport. Type a larger total or fewer parts.")
    interval = parse_duration(words[4], what="interval", longest=30 * 86400)
    return DcaArgs(mint, lamports, parts, interval)


def _dca_parts(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 2 <= int(text) <= MAX_DCA_PARTS:
        raise ParseError(f"The number of parts must be a whole number from 2 to {MAX_DCA_PARTS}, like 10.")
    return int(text)
