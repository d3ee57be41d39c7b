"""Money conversions in one place.

Lamports and raw token units are the truth and are always ``int``. ``Decimal`` is only for what people type and
read. Every rounding direction is explicit.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation, localcontext

LAMPORTS_PER_SOL = 10**9
SOL_DECIMALS = 9
U64_MAX = 2**64 - 1

# Conversions run with room for any u64 at any scale, so Decimal's default 28-digit context never rounds.
_EXACT = Context(prec=80)

# Enough digits for any u64 raw amount in any decimal placement, and not so many that a hostile input
# ("1" followed by 10,000 zeros) costs real work.
_MAX_DIGITS = 40


class AmountError(ValueError):
    """A text is not an acceptable amount; ``problem`` reads well after the amount's name."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def parse_decimal(text: str, *, allow_zero: bool = False, allow_negative: bool = False) -> Decimal:
    """Parse a human-typed number strictly: plain digits with an optional point, nothing else.

    Rejects NaN, infinity, exponents, thousands separators, unicode digits and signs where they make no sense,
    so that "1e309" or "٣" never becomes an amount by accident.
    """
    raw = text.strip()
    negative = raw.startswith("-")
    body = raw[1:] if negative or raw.startswith("+") else raw
    if not body:
        raise AmountError("is empty")
    if not _is_plain_number(body):
        raise AmountError(f"is not a plain number (got {_preview(raw)!r}); use digits with an optional point, like 0.5")
    if len(body.replace(".", "")) > _MAX_DIGITS:
        raise AmountError("has too many digits")
    try:
        value = Decimal(body)
    except InvalidOperation:  # pragma: no cover - the shape check above admits only valid literals
        raise AmountError("is not a number") from None
    if negative:
        value = value.copy_negate()  # exact: unary minus would round to 28 digits
    if value < 0 and not allow_negative:
        raise AmountError("must not be negative")
    if value == 0 and not allow_zero:
        raise AmountError("must be more than zero")
    return value


def sol_to_lamports(sol: Decimal) -> int:
    """Exact conversion; SOL with more than 9 decimal places is refused rather than silently rounded."""
    with localcontext(_EXACT):
        lamports = sol * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value():
        raise AmountError("has more than 9 decimal places (1 lamport = 0.000000001 SOL)")
    return int(lamports)


def lamports_to_sol(lamports: int) -> Decimal:
    with localcontext(_EXACT):
        return Decimal(lamports).scaleb(-SOL_DECIMALS)


def tokens_to_raw(amount: Decimal, decimals: int) -> int:
    """Token amount to raw base units; more precision than the mint has is refused."""
    with localcontext(_EXACT):
        raw = amount.scaleb(decimals)
    if raw != raw.to_integral_value():
        raise AmountError(f"has more than {decimals} decimal places, the most this token allows")
    value = int(raw)
    if value > U64_MAX:
        raise AmountError("is larger than any token supply")
    return value


def raw_to_tokens(raw: int, decimals: int) -> Decimal:
    with localcontext(_EXACT):
        return Decimal(raw).scaleb(-decimals)


def share_of(raw: int, numerator: int, denominator: int) -> int:
    """``raw * numerator / denominator`` rounded down: a share never exceeds what is there."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return raw * numerator // denominator


def percent_of(raw: int, percent: Decimal) -> int:
    """``percent`` % of ``raw``, rounded down."""
    with localcontext(_EXACT):
        return int((Decimal(raw) * percent / 100).to_integral_value(rounding=ROUND_DOWN))


def _is_plain_number(body: str) -> bool:
    if body.count(".") > 1 or body == ".":
        return False
    return all(ch in "0123456789." for ch in body)


def _preview(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "..."
