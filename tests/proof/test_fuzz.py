"""Fuzzing (issue 8, item 3): hostile input to every parser and, through the real bot, to every handler.

Two layers. The parsers get arbitrary text and must return a value within bounds, or refuse with a message the
trader can act on; money stays ``int``. The real ``Application`` (polling the Bot API stand-in, trading on
localnet) gets typed commands, free text and button presses, and every input must get a specific answer (never
the generic service-problem text, never a Python repr, HTML real Telegram accepts) and a refused input must leave
the database as it was.

``make test`` runs a short version; ``PROOF=1`` runs 10,000 cases (7,000 parser, 3,000 through the bot) and
records the figures. A case is one example Hypothesis generated and ran to the end of the test (counted once per
run of the test body, however many parsers it calls); the known hostile inputs replayed by
``test_known_hostile_inputs_get_a_specific_answer`` are counted apart. ``pytest --hypothesis-seed=N`` replays a run.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from decimal import Decimal

import pytest
import pytest_asyncio
from django.db import connection
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from custody.services import SETTING_FIELDS
from kernel.config import TradingConfig, load_config
from kernel.errors import UserFacingError
from kernel.money import U64_MAX, AmountError, parse_decimal
from positions.amounts import SellAmount, SellKind
from positions.errors import TradingError
from positions.models import Position
from telegrambot import keyboards, texts
from telegrambot.parsing import (
    MAX_ARGUMENT_LENGTH,
    ParseError,
    looks_like_address,
    parse_address,
    parse_buy_args,
    parse_dca_args,
    parse_limit_args,
    parse_sell_args,
    parse_sol,
    parse_trail_args,
    parse_withdraw_args,
    visible,
)
from telegrambot.setting_words import read as parse_value
from tests.proof.fuzz_bot import (
    OUTSIDE,
    ErrorLog,
    Shaped,
    World,
    changes,
    html_problems,
    is_refusal,
    only_failed_attempts,
    reply_problems,
    reports_a_change,
    same_but_requests,
    snapshot,
    without_banner,
)
from tests.proof.fuzz_inputs import (
    ORDER_WORDS,
    Pressed,
    Typed,
    address_texts,
    amount_texts,
    callback_data,
    command_texts,
    free_texts,
    plausible_commands,
    well_formed_commands,
)
from tests.proof.outcomes import module_finished, record_module
from tests.proof.scale import FULL, scaled
from tests.settings import TEST_WALLET_KEY
from wallets.models import FeeLevel, UserSettings, UserWallet

PARSER_CASES = scaled(150, 700)  # per property, 10 properties: 1,500 in make test, 7,000 with PROOF=1
BOT_CASES = scaled(300, 3_000)
FULL_CASES = 10_000
BIGINT_MAX = 2**63 - 1
FIGURES = {"parser_cases": 0, "bot_cases": 0, "bot_seconds": 0.0, "bot_refused": 0, "bot_changed_database": 0,
           "known_hostile_inputs": 0, "seconds": 0.0}
PARSER_SETTINGS = settings(max_examples=PARSER_CASES, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def _figures(request):
    """Counted while the module runs (in two stretches: pytest-django runs the bot's transactional tests first);
    recorded once it is finished, as "pass" only if every test in it passed and, with PROOF=1, at least 10,000
    cases ran."""
    started = time.monotonic()
    yield
    FIGURES["seconds"] += time.monotonic() - started
    if not module_finished(request):
        return
    cases = FIGURES["parser_cases"] + FIGURES["bot_cases"]
    enough = cases >= FULL_CASES or not FULL
    figures = {**FIGURES, "bot_seconds": round(FIGURES["bot_seconds"], 1), "seconds": round(FIGURES["seconds"], 1)}
    record_module(request, "fuzzing", cases=cases, **figures, database=connection.vendor,
                  result="pass: every input answered specifically; refusals changed nothing" if enough
                  else f"FAILED: {cases} cases, fewer than {FULL_CASES:,}",
                  summary=f"{FIGURES['parser_cases']} parser cases, {FIGURES['bot_cases']} through the bot "
                          f"({FIGURES['bot_refused']} refused, {FIGURES['bot_changed_database']} changed the "
                          f"database) and {FIGURES['known_hostile_inputs']} known hostile inputs; "
                          f"{FIGURES['seconds']:.0f} s")
    assert enough, f"only {cases} hypothesis cases ran; PROOF=1 promises {FULL_CASES:,}"


def _parser_case(test):
    """Count one parser case per example Hypothesis runs through ``test`` (below ``@given``)."""
    @functools.wraps(test)
    def counted(*args, **kwargs):
        FIGURES["parser_cases"] += 1
        return test(*args, **kwargs)
    return counted


def _refused_or(call, *args, errors=(ParseError,), **kwargs):
    """``call``'s value, or None after checking the refusal carries a message fit to show a trader."""
    try:
        return call(*args, **kwargs)
    except errors as err:
        message = texts.refusal(err) if isinstance(err, UserFacingError) else getattr(err, "problem", "")
        assert message.strip(), f"{type(err).__name__} without a message"
        typed = " ".join(str(a) for a in args)
        assert not reply_problems(texts.refused(message), typed), (message, reply_problems(message, typed))
        return None


def _whole(value) -> bool:
    return type(value) is int  # not bool, not float, not Decimal


# Layer 1: the parsers.


@PARSER_SETTINGS
@given(text=amount_texts(), allow_zero=st.booleans(), allow_negative=st.booleans())
@_parser_case
def test_parse_decimal_returns_a_finite_plain_number_or_says_what_is_wrong(text, allow_zero, allow_negative):
    value = _refused_or(parse_decimal, text, allow_zero=allow_zero, allow_negative=allow_negative,
                        errors=(AmountError,))
    if value is not None:
        assert isinstance(value, Decimal) and value.is_finite()
        assert len(value.as_tuple().digits) <= 40
        assert allow_negative or value >= 0
        assert allow_zero or value != 0
        assert value == Decimal(visible(text).strip())


@PARSER_SETTINGS
@given(text=amount_texts())
@_parser_case
def test_parse_sol_gives_whole_positive_lamports(text):
    lamports = _refused_or(parse_sol, text)
    if lamports is not None:
        assert _whole(lamports) and 0 < lamports <= BIGINT_MAX
        assert Decimal(lamports) == Decimal(visible(text).strip()) * 10**9  # invisible characters are dropped


@PARSER_SETTINGS
@given(sol=st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal(10**9), places=9))
@_parser_case
def test_every_lamport_amount_typed_in_sol_is_read_exactly(sol):
    assert _refused_or(parse_sol, format(sol, "f")) == int(sol * 10**9)


@PARSER_SETTINGS
@given(args=st.lists(st.one_of(address_texts(), amount_texts()), max_size=3))
@_parser_case
def test_buy_args(args):
    parsed = _refused_or(parse_buy_args, args)
    if parsed is not None:
        assert str(Pubkey.from_string(parsed.mint)) == parsed.mint
        assert _whole(parsed.lamports) and 0 < parsed.lamports <= BIGINT_MAX


@PARSER_SETTINGS
@given(args=st.lists(st.one_of(address_texts(), amount_texts()), max_size=3), decimals=st.integers(0, 12),
       remaining=st.integers(1, U64_MAX))
@_parser_case
def test_sell_args_and_the_raw_amount_they_ask_for(args, decimals, remaining):
    parsed = _refused_or(parse_sell_args, args)
    if parsed is None:
        return
    assert str(Pubkey.from_string(parsed.mint)) == parsed.mint
    amount = parsed.amount
    assert amount.kind is SellKind.ALL or (amount.value.is_finite() and amount.value > 0)
    assert amount.kind is not SellKind.PERCENT or amount.value <= 100
    assert SellAmount.parse(str(amount)) == amount  # a confirmation button stores it as text
    raw = _refused_or(amount.to_raw, remaining_raw=remaining, decimals=decimals, errors=(TradingError,))
    if raw is not None:
        assert _whole(raw) and 0 < raw <= U64_MAX
        assert amount.kind is SellKind.TOKENS or raw <= remaining


@PARSER_SETTINGS
@given(args=st.lists(st.one_of(address_texts(), amount_texts()), max_size=3))
@_parser_case
def test_withdraw_args(args):
    parsed = _refused_or(parse_withdraw_args, args)
    if parsed is not None:
        assert str(Pubkey.from_string(parsed.address)) == parsed.address
        assert parsed.lamports is None or (_whole(parsed.lamports) and 0 < parsed.lamports <= BIGINT_MAX)


def _order_words() -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(address_texts(), amount_texts(), st.sampled_from(ORDER_WORDS)), max_size=8)


@PARSER_SETTINGS
@given(args=_order_words(), mint=address_texts())
@_parser_case
def test_order_args(args, mint):
    """/limit, /trail and /dca: a typed trigger within bounds, whole lamports, or a refusal that says what to type."""
    for words in (args, [mint, *args]):
        limit = _refused_or(parse_limit_args, words)
        if limit is not None:
            assert limit.side in ("buy", "sell") and limit.trigger.value.is_finite() and limit.trigger.value > 0
            assert limit.side == "sell" or (_whole(limit.lamports) and 0 < limit.lamports <= BIGINT_MAX)
            assert limit.expires_in is None or limit.expires_in.total_seconds() >= 60
        trail = _refused_or(parse_trail_args, words)
        if trail is not None:
            assert Decimal("0.5") <= trail.percent <= 99
            assert trail.activation_sol is None or trail.activation_sol > 0
        plan = _refused_or(parse_dca_args, words)
        if plan is not None:
            assert 2 <= plan.parts <= 100 and _whole(plan.lamports)
            assert plan.lamports // plan.parts > 0 if plan.side == "buy" else plan.lamports == 0
            assert 60 <= plan.interval_seconds <= 30 * 86400


@PARSER_SETTINGS
@given(text=st.one_of(amount_texts(), st.sampled_from(["all", "max", "ALL", " 100% "])))
@_parser_case
def test_sell_amount_parse(text):
    amount = _refused_or(SellAmount.parse, text, errors=(TradingError,))
    if amount is not None:
        assert amount.kind is SellKind.ALL or (amount.value.is_finite() and amount.value > 0)
        assert amount.kind is not SellKind.PERCENT or amount.value <= 100
        assert SellAmount.parse(str(amount)) == amount


@PARSER_SETTINGS
@given(data=st.one_of(callback_data(), st.none()))
@_parser_case
def test_callback_data_parses_only_into_shapes_the_bot_issues(data):
    callback = keyboards.parse(data)
    if callback is not None:
        arity = {"m": 1, "b": 2, "bx": 1, "s": 2, "ok": 1, "no": 1, "set": 1, "tog": 1, "wc": 1, "pp": 1, "pc": 1,
                 "oc": 1, "or": 2}
        assert arity[callback.kind] == len(callback.args) and all(callback.args)
        assert len(data.encode()) <= 64 and ":".join([callback.kind, *callback.args]) == data


@PARSER_SETTINGS
@given(text=address_texts())
@_parser_case
def test_addresses(text):
    looks = looks_like_address(text)
    assert isinstance(looks, bool)
    address = _refused_or(parse_address, text)
    if address is not None:
        assert looks and len(address) <= MAX_ARGUMENT_LENGTH
        assert str(Pubkey.from_string(address)) == address, "a non-canonical spelling would miss its rows"


_SETTING_BOUNDS = {"slippage": (1, 5000), "max_trade": (1, BIGINT_MAX), "daily_loss": (1, BIGINT_MAX),
                   "snipe_amount": (1, BIGINT_MAX), "priority_fee": (0, 10_000_000),
                   "stop_loss": (Decimal("0.1"), Decimal(99)), "take_profit": (Decimal("0.1"), Decimal(10_000)),
                   "daily_spend": (1, BIGINT_MAX), "buy_code_above": (0, BIGINT_MAX), "buy_code_slippage": (1, 5000),
                   "jito_tip": (1_000, 10_000_000), "auto_buy": (1, BIGINT_MAX)}


@PARSER_SETTINGS
@given(key=st.sampled_from(sorted(SETTING_FIELDS)), text=st.one_of(amount_texts(), st.sampled_from(
    ["on", "off", "ON", "yes", "no", "true", "false", "1", "0", "enable", "disable", "none", "None", " off ",
    "fast", "TURBO", " fixed ", "slow"])))
@_parser_case
def test_every_setting_value_accepted_fits_its_column(key, text):
    value = _refused_or(parse_value, key, text)
    if value is None:
        return
    column = UserSettings._meta.get_field(SETTING_FIELDS[key])
    column.clean(value, None)  # the column's own validators: integer range, max_digits, decimal places
    if key in ("snipe", "confirm", "mev_protection"):
        assert type(value) is bool
        return
    if key == "fee_level":
        assert value in FeeLevel.values
        return
    low, high = _SETTING_BOUNDS[key]
    assert low <= value <= high
    assert isinstance(value, Decimal) or _whole(value)


# Layer 2: the real bot.


@pytest.fixture
def fuzz_config(localnet, telegram) -> TradingConfig:
    """As the e2e bot's, with the stop-loss monitor parked: a rule firing between two inputs would change the
    database behind an input's back."""
    return load_config({
        "SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url, "SOLANA_WS_URL": localnet.ws_url,
        "SNIPE_MIN_LIQUIDITY_SOL": "10", "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url,
        "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_LOSS_SOL": "3",
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "ADMIN_TELEGRAM_IDS": "900001", "MONITOR_INTERVAL_SECONDS": "3600",
    })


@pytest_asyncio.fixture
async def world(fuzz_config, localnet, telegram, transactional_db):
    from telegrambot.runner import BotRunner

    runner = BotRunner(fuzz_config, key_message_seconds=1)
    runner.deps.throttle_limit = 10**9  # throttling has its own test; here it would only drop inputs
    users = {"A": 761_001, "B": 761_002, "C": 761_003, "admin": 900_001}  # admin: ADMIN_TELEGRAM_IDS
    mints = {symbol: localnet.token(symbol).mint for symbol in ("BONK", "WIF", "JUP")}
    world = World(telegram=telegram, localnet=localnet, users=users, mints=mints)
    world.watch(runner.application)
    log = ErrorLog(world)
    logging.getLogger().addHandler(log)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_polling(stop))
    try:
        for slot in users:
            await world.act(Typed(slot, "/start"))
        # A and B hold a position and stay funded; B asks before every trade; C has no SOL.
        for slot, symbol in (("A", "BONK"), ("B", "WIF")):
            wallet = await UserWallet.objects.aget(telegram_user_id=users[slot])
            world.wallets[slot] = wallet.public_key
            localnet.chain.airdrop(wallet.public_key, 20 * 10**9)
            await runner.deps.trading.execute_buy(telegram_user_id=users[slot], mint=mints[symbol], lamports=10**8)
            world.positions[users[slot]] = (await Position.objects.aget(user=wallet, is_open=True)).pk
        await world.act(Typed("B", "/set confirm on"))
        assert not world.errors, world.errors
        yield world
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        logging.getLogger().removeHandler(log)


def actions() -> st.SearchStrategy[Typed | Pressed | Shaped]:
    users = st.sampled_from(["A", "A", "B", "C", "admin", "fresh"])
    real_button = st.builds(Pressed, users, st.just(""), st.integers(0, 40))
    return st.one_of(
        st.builds(Typed, users, plausible_commands()), st.builds(Typed, users, well_formed_commands()),
        st.builds(Typed, users, command_texts()),
        st.builds(Typed, users, free_texts()), st.builds(Pressed, users, callback_data()), real_button,
        shaped_actions(users),
    )


def shaped_actions(users) -> st.SearchStrategy[Shaped]:
    """Telegram's other shapes: the same commands typed in a group, a supergroup or a channel, edited, as a photo's
    caption, by a user with no username; stickers; buttons pressed in a group."""
    typed = st.one_of(plausible_commands(), well_formed_commands(), command_texts(), free_texts())
    return st.one_of(
        st.builds(Shaped, users, typed, st.sampled_from(["group", "supergroup", "channel", "channel_edit", "photo",
                                                         "bare"])),
        st.builds(Shaped, st.sampled_from(["A", "B", "C", "admin"]), typed, st.just("edited")),
        st.builds(Shaped, users, st.just(""), st.just("sticker")),
        st.builds(Shaped, users, callback_data(), st.just("group_button")),
    )


# Inputs that once found a bug, replayed first on a bot of their own: kept apart from the generated cases so the
# figures count only what Hypothesis generated.
KNOWN_HOSTILE = (
    Typed("A", "/set maxtrade 99999999999"), Typed("fresh", "/set slippage 2"), Pressed("fresh", "tog:snipe"),
    Pressed("A", "s:99999999999999999999999:50"), Pressed("A", "s:$OTHERPOS:100"), Pressed("A", "m:buy"),
    Typed("A", "/buy $BONK 1e400"), Typed("A", "/sell $BONK 18446744073709551616"),
    Typed("A", "/withdraw 11111111111111111111111111111111 all"), Typed("A", "/sl $WIF 10"),
    Pressed("B", "b:11111111111111111111111111111111:100000000"), Pressed("A", "x" * 100),
    Shaped("A", "/exportkey", "supergroup"), Shaped("A", "/2fa on", "group"), Shaped("A", "/wallet", "supergroup"),
    Shaped("B", "/withdraw 11111111111111111111111111111111 all", "group"), Shaped("A", "/buy $BONK 0.1", "edited"),
    Shaped("admin", "/start", "channel"), Shaped("A", "/exportkey", "channel_edit"), Shaped("A", "m:wal",
                                                                                          "group_button"),
    Shaped("fresh", "/start", "bare"), Shaped("A", "", "sticker"), Shaped("A", "/exportkey", "photo"),
)


async def test_known_hostile_inputs_get_a_specific_answer(world):
    for action in KNOWN_HOSTILE:
        await _answers_specifically(world, action)
        FIGURES["known_hostile_inputs"] += 1


@settings(max_examples=BOT_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(action=actions())
async def test_every_input_gets_a_specific_answer_and_a_refusal_changes_nothing(world, action):
    """One hypothesis example = one update sent to the running bot and handled to the end.

    Why this shape: the bot is an async fixture (it polls on the test's event loop), and function-scoped fixtures
    are not rebuilt between examples. pytest-asyncio's Hypothesis support runs each example as a coroutine on that
    same loop, so the bot keeps running across examples with no thread or second loop, and the strategies need no
    ``.example()`` or ``find``. Examples run one after another on one bot on purpose: traders' state (settings,
    pending confirmations, a setting being asked for) carries over, so sequences like "tap Slippage, then type
    garbage" happen, and every property checked holds in any state. The price: a failure found late may not
    replay exactly while shrinking (Hypothesis then reports it as flaky, with the original failure attached).
    A handler registered after all others tells when an update is fully handled, so replies are never mixed up
    between inputs and nothing waits on wall-clock luck."""
    if isinstance(action, Typed) or (isinstance(action, Shaped) and action.shape not in (
            "sticker", "photo", "group_button")):
        assume(action.text.strip())  # Telegram delivers no empty message
    started = time.monotonic()
    refused, changed = await _answers_specifically(world, action)
    FIGURES["bot_cases"] += 1
    FIGURES["bot_seconds"] += time.monotonic() - started
    FIGURES["bot_refused"] += refused
    FIGURES["bot_changed_database"] += changed


async def _answers_specifically(world, action: Typed | Pressed | Shaped) -> tuple[bool, bool]:
    """Send ``action``, check the answer and what it did to the database; (refused, changed the database)."""
    if isinstance(action, Typed):
        action = Typed(action.user, action.text.strip())
    elif isinstance(action, Shaped) and action.shape not in ("group_button", "sticker"):
        action = Shaped(action.user, action.text.strip(), action.shape)
    before = await snapshot()
    world.errors.clear()
    calls = len(world.telegram.calls)
    sent, replies, html = await world.act(action)
    replies = [without_banner(text) for text in replies]
    after = await snapshot()
    world.keep_funded()
    shown = f"{action.user} sent {sent[:300]!r}; replies {[r[:300] for r in replies]}"
    assert not world.errors, f"{shown}: the bot logged {world.errors}"
    if isinstance(action, Shaped) and action.shape != "bare":
        _never_acts(action, sent, replies, world.answers(calls), shown)
        assert after == before, f"{shown}: a {action.shape} changed the database: {changes(before, after)}"
        return True, False
    assert replies, f"{shown}: no reply"
    problems = [p for text in replies for p in reply_problems(text, sent)]
    problems += [p for text in html for p in html_problems(text)]
    assert not problems, f"{shown}: {problems}"
    refused = is_refusal(replies[-1])
    if refused:
        assert only_failed_attempts(before, after), f"{shown}: refused, yet the database changed: " \
                                                    f"{changes(before, after)}"
    elif not same_but_requests(before, after):
        assert reports_a_change(action, replies), f"{shown}: the database changed: {changes(before, after)}"
    return refused, not same_but_requests(before, after)


def _never_acts(action: Shaped, sent: str, replies: list[str], answers: list[str], shown: str) -> None:
    """What the bot may say to an input that must not act: one line at most (none in a channel), in that chat."""
    shown = f"{shown} ({action.shape})"
    if action.shape in ("channel", "channel_edit"):
        assert replies == [], f"{shown}: the bot posted in a channel"
    elif action.shape == "group_button":
        assert replies == [] and answers == [texts.PRIVATE_ONLY], f"{shown}: answered {answers}"
    elif action.shape in OUTSIDE:
        assert replies in ([], [texts.PRIVATE_ONLY]), f"{shown}: more than the one line in a group"
    elif action.shape == "edited":
        assert replies == [texts.EDITS_NOT_ACTED], shown
    elif action.shape == "photo" and looks_like_address(sent[:1024]):  # what was sent (a placeholder filled in)
        assert len(replies) == 1, shown  # a mint as a caption reads as the mint pasted: a token card, or why not
    else:
        assert replies == [texts.NOT_TEXT], shown
