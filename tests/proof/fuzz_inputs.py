"""Hypothesis strategies for what a trader can type or press.

Shared by both layers of ``test_fuzz.py``: the parsers see the same hostile texts the bot sees.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from hypothesis import strategies as st
from solders.pubkey import Pubkey

from kernel.money import U64_MAX
from telegrambot import keyboards
from telegrambot.setting_words import BY_KEY, BY_NAME

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
PLACEHOLDER_MINTS = ["$BONK", "$WIF", "$JUP"]
# Addresses that decode to 32 bytes but are no token mint: programs, sysvars, wrapped SOL, all zeros.
NOT_MINTS = [
    "11111111111111111111111111111111", "So11111111111111111111111111111111111111112",
    "SysvarC1ock11111111111111111111111111111111", "TokenkegQfeZyiNwAJbNbGKPFXCWpYZzJ76xDXqKk8gYQ",
    "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
]
# Texts every amount parser has to survive: specials Decimal would accept, overflows, unicode digits, separators.
NASTY_AMOUNTS = [
    "NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-inf", "1e400", "1E-400", "1e309", "-1e400",
    "1e18", "0e0", str(U64_MAX), str(U64_MAX + 1), str(2**63 - 1), str(2**63), str(2**128), "9" * 40, "9" * 41,
    "1" + "0" * 39, "0." + "0" * 38 + "1", "0." + "0" * 39 + "1", "-0", "0", "0.0", "-0.0", "00", "000.000", "0x10",
    "1_000", "1,5", "1 000", "١٢٣", "٣", "۳", "𝟙", "²", "½", "①", "1.", ".5", ".", "..", "1.2.3", "...1", "  1  ",
    "", " ", "\u00a0", "\u200b1", "1\x00", "+1", "++1", "--1", "1-", "-", "+", "+.5", "-.5", "1e-9",
    "0.000000001", "0.0000000001", "0.1234567891", "1" * 100, "1" * 101, "all", "ALL", "max",
    " all ", "100%", "50%", "50.5%", "0%", "-5%", "150%", "100.01%", "%", "%%", "50%%", "1e2%", "NaN%", "off", "on",
    "None", "true", "Decimal('1')", "0.01", "0.005", "99", "99.99", "100", "10000", "10000.01", "50", "50.01",
    "0.01%", "0.001",
]
# What a trader who means it types: these reach the services, the chain and the confirmation buttons.
PLAUSIBLE_AMOUNTS = ["0.1", "0.5", "1", "2", "0.01", "0.001", "6", "all", "max", "25%", "50%", "100%", "10", "1000",
                     "off", "on", "20", "1.5", "0.0001", "0.00001"]
_NUMERIC_ALPHABET = string.digits + ".-+eE%_, \t\n\u00a0٣١۳𝟙²½①"


def amount_texts() -> st.SearchStrategy[str]:
    """Things typed where a number is expected."""
    return st.one_of(
        st.sampled_from(NASTY_AMOUNTS),
        st.sampled_from(PLAUSIBLE_AMOUNTS),
        st.integers(90, 10_000).map(lambda n: "9" * n),  # length limits, without a 10,000-digit repr in reports
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.decimals(min_value=-(10**45), max_value=10**45, allow_nan=False).map(lambda d: format(d, "f")),
        st.integers(min_value=-(2**200), max_value=2**200).map(str),
        st.floats().map(repr),
        st.from_regex(r"\A\s?[+-]?\d{0,45}(\.\d{0,45})?([eE][+-]?\d{1,4})?%?\s?\Z"),
        st.text(alphabet=_NUMERIC_ALPHABET, max_size=60),
        st.text(max_size=120),
    )


def address_texts() -> st.SearchStrategy[str]:
    """Things typed where an address is expected: real mints, non-mint addresses, near-misses.

    ``$BONK``, ``$WIF``, ``$JUP`` and ``$OWN`` (the trader's own wallet) are placeholders the bot driver fills in,
    so explicit examples can name them before localnet exists."""
    known = [*PLACEHOLDER_MINTS, "$OWN", *NOT_MINTS]
    return st.one_of(
        st.sampled_from(known),
        st.binary(min_size=32, max_size=32).map(lambda raw: str(Pubkey(raw))),
        st.sampled_from(known).map(lambda a: a[:-1]),  # one letter short
        st.sampled_from(known).map(lambda a: a + "1"),  # one too many: decodes to 33 bytes or fails
        st.sampled_from(known).map(lambda a: a[:5] + "0" + a[6:]),  # a letter base58 has not
        st.text(alphabet=BASE58, min_size=30, max_size=46),
        st.text(alphabet=BASE58 + "0OIl", min_size=32, max_size=44),
        st.text(max_size=60),
    )


def free_texts() -> st.SearchStrategy[str]:
    return st.one_of(amount_texts(), address_texts(), st.sampled_from(sorted(BY_NAME)),
                     st.text(min_size=190, max_size=260), st.text(alphabet="ab ", min_size=4000, max_size=4200))


COMMANDS = ["buy", "sell", "withdraw", "set", "sl", "tp", "settings", "start", "help", "positions", "wallet",
            "exportkey", "metrics", "2fa", "allowlist", "withdrawdelay", "limit", "trail", "dca", "orders", "paper"]
ORDER_WORDS = ["buy", "sell", "at", "for", "every", "from", "mcap", "50k", "1.5m", "2x", "-20%", "24h", "30m", "1d",
               "all", "50%", "0.5x", "-0%", "100%", "0s", "1e3m", "mcapx"]


def command_texts() -> st.SearchStrategy[str]:
    """``/name[@bot] arg …`` with arguments drawn from addresses, amounts and setting names."""
    name = st.one_of(st.sampled_from(COMMANDS), st.sampled_from(COMMANDS).map(str.upper),
                     st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12))
    suffix = st.sampled_from(["", "", "", "@localnet_bot", "@other_bot"])
    arg = st.one_of(address_texts(), amount_texts(), st.sampled_from(sorted(BY_NAME)),
                    st.text(max_size=30)).map(lambda a: a.replace("\n", " "))
    spaces = st.sampled_from([" ", "  ", "\t", " \u00a0", "\n"])
    return st.builds(lambda n, s, args, sep: f"/{n}{s}" + "".join(sep + a for a in args),
                     name, suffix, st.lists(arg, max_size=4), spaces)


def well_formed_commands() -> st.SearchStrategy[str]:
    """Commands with the arguments they expect, mostly real tokens: the inputs that get past the parsers."""
    mint = st.one_of(st.sampled_from(PLACEHOLDER_MINTS), address_texts())
    return st.one_of(
        st.builds("/buy {} {}".format, mint, amount_texts()), st.builds("/sell {} {}".format, mint, amount_texts()),
        st.builds("/withdraw {} {}".format, address_texts(), amount_texts()),
        st.builds("/set {} {}".format, st.sampled_from(sorted(BY_NAME)), amount_texts()),
        st.builds("/sl {} {}".format, mint, amount_texts()), st.builds("/tp {} {}".format, mint, amount_texts()),
        st.builds("/limit {} {} {} at {}".format, mint, st.sampled_from(["buy", "sell"]), amount_texts(),
                  st.one_of(amount_texts(), st.sampled_from(ORDER_WORDS))),
        st.builds("/trail {} {}%".format, mint, amount_texts()),
        st.builds("/dca {} {} {} every {}".format, mint, amount_texts(), amount_texts(), st.sampled_from(ORDER_WORDS)),
    )


def plausible_commands() -> st.SearchStrategy[str]:
    """What a trader who means it sends: real tokens, sensible amounts. These trade, withdraw and change settings
    for real, so the invariants are checked on accepted input and on the confirmation buttons it brings."""
    mint = st.sampled_from(PLACEHOLDER_MINTS)
    amount = st.sampled_from(PLAUSIBLE_AMOUNTS)
    return st.one_of(
        st.builds("/buy {} {}".format, mint, amount), st.builds("/sell {} {}".format, mint, amount),
        st.builds("/withdraw {} {}".format, st.sampled_from(NOT_MINTS), amount),
        st.builds("/set {} {}".format, st.sampled_from(sorted(BY_NAME)), amount),
        st.builds("/sl {} {}".format, mint, amount), st.builds("/tp {} {}".format, mint, amount),
        st.sampled_from(["/start", "/positions", "/wallet", "/settings", "/help", "/exportkey", "/metrics"]), mint,
        st.sampled_from(["/2fa", "/2fa on", "/2fa off", "/allowlist", "/allowlist off", "/withdrawdelay",
                         "/withdrawdelay 1", "/withdrawdelay off", "/positions 2", "123456"]),
        # Paper trading toggled between trades: the same invariants hold in either book, and on the way between.
        st.sampled_from(["/paper", "/paper on", "/paper off", "/paper reset", "/orders"]),
        st.builds("/allowlist {} {}".format, st.sampled_from(["add", "remove"]), st.sampled_from(NOT_MINTS)),
    )


def callback_data() -> st.SearchStrategy[str]:
    """Button data: well-formed-looking (the shapes ``keyboards`` issues) with wrong values, and garbage.

    ``$POS`` is the pressing trader's own open position, ``$OTHERPOS`` someone else's."""
    numbers = st.one_of(st.sampled_from([str(n) for n in keyboards.BUY_PRESETS_LAMPORTS]),
                        st.sampled_from(["$POS", "$OTHERPOS", *(str(p) for p in (0, -1, 2**63, 2**64, 10**30))]),
                        st.sampled_from(["25", "50", "100", "33", "0", "101", "1e3", "٣", "", "NaN"]),
                        st.integers(min_value=-(2**70), max_value=2**70).map(str))
    word = st.one_of(st.sampled_from([*keyboards.MENU, *BY_KEY]),
                     st.text(alphabet=string.ascii_letters + "_-", max_size=12), st.text(max_size=10))
    mint = address_texts()
    shaped = st.one_of(
        st.builds("m:{}".format, word), st.builds("b:{}:{}".format, mint, numbers), st.builds("bx:{}".format, mint),
        st.builds("s:{}:{}".format, numbers, numbers), st.builds("ok:{}".format, word),
        st.builds("no:{}".format, word), st.builds("set:{}".format, word), st.builds("tog:{}".format, word),
        st.builds("wc:{}".format, numbers), st.builds("pp:{}".format, numbers), st.builds("pc:{}".format, word),
        st.builds("oc:{}".format, numbers), st.builds("or:{}:{}".format, st.sampled_from(["l", "t", "d", "x"]), mint),
        st.builds(lambda k, parts: ":".join([k, *parts]),
                  st.sampled_from(["m", "b", "bx", "s", "ok", "no", "set", "tog", "wc", "pp", "pc", "oc", "or", "x",
                                   ""]),
                  st.lists(st.one_of(word, numbers), max_size=4)),
    )
    return st.one_of(shaped, st.text(max_size=80), st.text(alphabet=string.printable, min_size=60, max_size=200))


@dataclass(frozen=True)
class Typed:
    user: str
    text: str


@dataclass(frozen=True)
class Pressed:
    user: str
    data: str
    real: int | None = None  # index into the buttons the bot showed this user, instead of ``data``
