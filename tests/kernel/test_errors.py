"""One base for every error a user may read, and one boundary that shows it."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
import re
from datetime import UTC, datetime, timedelta

import pytest
from telegram import Bot, Update

from custody import inspection
from custody.errors import ActionPaused, SettingRefused, SwapRefused, SwapWouldFail, WithdrawalError
from custody.models import KillSwitch
from custody.second_factor import CodeRefused
from kernel.chain.errors import ChainError, ChainUnavailable, JupiterError, TransactionRejected
from kernel.errors import UserFacingError, WordedError
from positions.errors import (
    DailyLossLimitReached,
    DailySpendCapReached,
    InsufficientBalance,
    InvalidAmount,
    InvalidMint,
    NoOpenPosition,
    PaperBalanceTooLow,
    PaperBookInUse,
    PositionChanged,
    SellAmountTooLarge,
    ServiceUnavailable,
    TokenRefused,
    TradeFailed,
    TradeTooLarge,
    TradingError,
    TradingFrozen,
    UnknownToken,
)
from positions.order_errors import OrderNotCancellable, TooManyOrders, TriggerUnusable
from telegrambot import refusals, texts
from telegrambot.handlers.common import BookChanged, guarded
from telegrambot.parsing import ParseError

PACKAGES = ["kernel", "wallets", "custody", "positions", "telegrambot"]
SNAKE_CASE = re.compile(r"^[a-z]+(_[a-z]+)*$")
CHAT_ID = 990_001


def _exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in the packages' modules, each module imported."""
    found = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names = [package_name, *(info.name for info in pkgutil.walk_packages(package.__path__, f"{package_name}."))]
        for name in names:
            module = importlib.import_module(name)
            found += [value for value in vars(module).values() if inspect.isclass(value)
                      and issubclass(value, BaseException) and value.__module__ == name]
    return found


def _carries_user_message(cls: type[BaseException]) -> bool:
    """A class attribute or property, or one set in ``__init__`` (how the old copies did it)."""
    return hasattr(cls, "user_message") or "user_message" in inspect.getsource(cls)


def test_every_exception_with_a_user_message_is_a_user_facing_error():
    classes = _exception_classes()
    carrying = {cls for cls in classes if _carries_user_message(cls)}
    assert ParseError in carrying  # the one still bringing its own sentence (telegrambot's own)
    assert [cls.__qualname__ for cls in carrying if not issubclass(cls, UserFacingError)] == []


def test_each_user_facing_error_names_its_own_stable_code():
    classes = [cls for cls in _exception_classes() if issubclass(cls, UserFacingError)]
    codes = [cls.code for cls in classes]
    assert all("code" in vars(cls) for cls in classes)
    assert [code for code in codes if not SNAKE_CASE.match(code)] == []
    assert len(set(codes)) == len(codes), sorted(codes)


def test_a_subclass_without_its_own_code_is_refused_at_definition():
    with pytest.raises(TypeError, match="must name its own code"):
        type("Nameless", (TradingError,), {})


def _sample(cls: type[UserFacingError]) -> UserFacingError:
    """One instance of ``cls`` with plausible data."""
    if cls in SAMPLES:
        return SAMPLES[cls]
    parameters = inspect.signature(cls.__init__).parameters
    if issubclass(cls, WordedError) or issubclass(cls, ChainError):
        return cls("Sample detail for the logs.")
    assert all(p.default is not p.empty for name, p in parameters.items() if name != "self" and p.kind not in (
        p.VAR_POSITIONAL, p.VAR_KEYWORD)), f"{cls.__qualname__} needs a sample in SAMPLES"
    return cls()


MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
SAMPLES = {
    WithdrawalError: WithdrawalError(WithdrawalError.Reason.NOT_A_WALLET),
    CodeRefused: CodeRefused(CodeRefused.Reason.ALREADY_USED),
    InvalidMint: InvalidMint("not-a-mint"),
    UnknownToken: UnknownToken(MINT),
    TradeTooLarge: TradeTooLarge(2 * 10**9, 10**9),
    DailyLossLimitReached: DailyLossLimitReached(10**8, 10**8, datetime(2026, 1, 2, tzinfo=UTC)),
    DailySpendCapReached: DailySpendCapReached(lamports=2 * 10**9, cap=10**9, spent=5 * 10**8),
    InsufficientBalance: InsufficientBalance(10**9, 10**8),
    PaperBalanceTooLow: PaperBalanceTooLow(10**9, 10**8),
    PaperBookInUse: PaperBookInUse(1, 2),
    PositionChanged: PositionChanged(10**6, 6),
    BookChanged: BookChanged(made_on_paper=True),
    NoOpenPosition: NoOpenPosition(MINT),
    SellAmountTooLarge: SellAmountTooLarge(500, 300, 2, reserved=100),
    InvalidAmount: InvalidAmount(InvalidAmount.Kind.SELL_AMOUNT_UNREADABLE, problem="is empty"),
    TradeFailed: TradeFailed(TradeFailed.Reason.EXPIRED, "5ig"),
    ServiceUnavailable: ServiceUnavailable(JupiterError("/quote: 503", status=503)),
    TokenRefused: TokenRefused(("freeze authority is set",)),
    JupiterError: JupiterError("/quote: no route", error_code="NO_ROUTES_FOUND", status=400),
    ActionPaused: ActionPaused("buys", for_everyone=True),
    SwapRefused: SwapRefused("sol_transfer", "sends_to_stranger", lamports=5, destination=MINT),
    SwapWouldFail: SwapWouldFail("custom program error: 0x1771"),
    SettingRefused: SettingRefused("slippage", maximum=500),
    OrderNotCancellable: OrderNotCancellable("firing"),
    TooManyOrders: TooManyOrders(100),
    TriggerUnusable: TriggerUnusable(TriggerUnusable.Reason.ALREADY_MET),
}


def test_every_user_facing_error_has_words_and_its_domain_builds_none():
    classes = [cls for cls in _exception_classes() if issubclass(cls, UserFacingError)]
    worded = [cls for cls in classes if not issubclass(cls, WordedError)]
    assert [cls.__qualname__ for cls in worded if cls.code not in refusals.worded_codes()] == []
    for cls in classes:
        sentence = texts.refusal(_sample(cls))
        assert sentence.strip() and not sentence[0].islower() and sentence.rstrip().endswith((".", ")")), cls
        assert cls.code not in sentence, cls
    assert [cls.__qualname__ for cls in worded if cls is not UserFacingError and "user_message" in vars(cls)] == []


def test_each_reason_an_error_can_carry_has_its_own_words():
    for kind in InvalidAmount.Kind:
        assert "{" not in texts.refusal(InvalidAmount(kind, problem="is empty"))
    failed = {reason: texts.refusal(TradeFailed(reason, "5ig")) for reason in TradeFailed.Reason}
    assert len(set(failed.values())) == len(failed)
    rejected = TradeFailed(TradeFailed.Reason.REJECTED, "5ig", rejection=TransactionRejected("0x1771"))
    assert "slippage" in texts.refusal(rejected)
    assert set(refusals.PAUSED) == set(KillSwitch.Action.values)
    for maximum_of in ("slippage", "daily_spend"):
        assert "Nothing was changed" in texts.refusal(SettingRefused(maximum_of, maximum=500))


def test_each_reason_money_out_and_the_second_factor_give_has_its_own_words():
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    facts = {"balance": 10**9, "fee": 5000, "withdrawable": 10**9 - 5000, "left": 1000, "rent": 890_880,
             "active_from": now, "protections": ("allowlist", "withdraw_delay")}
    withdrawals = {reason: texts.refusal(WithdrawalError(reason, **facts)) for reason in WithdrawalError.Reason}
    assert len(set(withdrawals.values())) == len(withdrawals)  # no two reasons read alike
    assert "allow-list and large-withdrawal delay are on" in withdrawals[WithdrawalError.Reason.EXPORT_PROTECTED]
    assert "at most 0.999995 SOL" in withdrawals[WithdrawalError.Reason.OVER_BALANCE]
    codes = {reason: texts.refusal(CodeRefused(reason, until=now + timedelta(minutes=14, seconds=1), now=now,
                                               failures=5, left=1)) for reason in CodeRefused.Reason}
    assert len(set(codes.values())) == len(codes)
    assert "about 15 minutes" in codes[CodeRefused.Reason.LOCKED] and "1 more wrong code and" in codes[
        CodeRefused.Reason.WRONG]
    assert [reason for reason in CodeRefused.Reason if CodeRefused(reason).locked] == [
        CodeRefused.Reason.LOCKED, CodeRefused.Reason.WRONG_AND_LOCKED]


SHOWN = [
    ParseError("The amount of SOL is empty. Type SOL as a plain number, like 0.5."),
    WithdrawalError(WithdrawalError.Reason.ALLOWLIST_ALREADY_OFF),
    WithdrawalError(WithdrawalError.Reason.NOTHING_TO_WITHDRAW, balance=4000, fee=5000),
    TradingFrozen(),
    DailySpendCapReached(lamports=2 * 10**9, cap=10**9, spent=0),
    CodeRefused(CodeRefused.Reason.WRONG, left=2),
    ChainUnavailable("getBalance failed: HTTP 503 from https://rpc.example/?api-key=hidden"),
    TransactionRejected("Transaction simulation failed: custom program error: 0x1771"),
    JupiterError("/quote: rate limited", status=429),
]


@pytest.mark.parametrize("error", SHOWN, ids=lambda error: type(error).__name__)
async def test_the_boundary_shows_a_subclasss_message_and_never_its_detail(telegram, error):
    async def refusing(update, context):
        raise error

    await _run(guarded(refusing), telegram)
    reply = await telegram.next_reply(CHAT_ID)
    assert reply["text"] == texts.refused(texts.refusal(error))
    assert str(error) == texts.refusal(error) or str(error) not in reply["text"]


async def test_anything_else_gets_the_calm_reply_and_goes_to_the_log(telegram, caplog):
    async def broken(update, context):
        raise KeyError("internal detail")

    with caplog.at_level(logging.ERROR, logger="telegrambot.handlers.common"):
        await _run(guarded(broken), telegram)
    reply = await telegram.next_reply(CHAT_ID)
    assert reply["text"] == texts.SERVICE_PROBLEM
    assert "internal detail" in caplog.text


async def _run(handler, telegram) -> None:
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        update = Update.de_json({"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": {"id": CHAT_ID, "type": "private"}, "text": "/anything",
            "from": {"id": CHAT_ID, "is_bot": False, "first_name": "Tester"}}}, bot)
        await handler(update, None)


def test_every_finding_the_swap_inspector_can_raise_has_words():
    source = ast.parse(inspect.getsource(inspection))
    findings = {call.args[1].value for call in ast.walk(source) if isinstance(call, ast.Call)
                and getattr(call.func, "id", "") == "SwapRefused"}
    assert len(findings) > 25 and findings <= set(refusals.SWAP_FINDINGS), findings - set(refusals.SWAP_FINDINGS)
