"""Trading is a way out too (issue 14): the attacks of the review, performed through the real bot against localnet.

Someone holding the chat of a trader who has protection on tries to loosen what lets value leave through trades
(slippage, trade size, snipe amount, sniping, confirmations, the daily spend cap), to spend past the daily cap, to
set a slippage past the operator's maximum, and to buy above the trader's code level without the code. Time is
moved, never slept.
"""

from __future__ import annotations

import itertools

import pytest

from custody import totp
from custody.models import AuditEvent, PendingSettingChange
from positions.models import Trade
from positions.sniping import Launch
from telegrambot import texts
from telegrambot.texts import refusal
from tests.e2e.conftest import buttons
from tests.e2e.test_custody import _enable_2fa, _started
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
_launches = itertools.count()


async def _set(chat, command: str) -> dict:
    """Send a /set command; a change (at once or delayed) is followed by the settings screen, a refusal is not."""
    answer = await chat.say(command)
    if not answer["text"].startswith("⚠️"):
        screen = await chat.telegram.next_reply(chat.user_id)
        assert screen["text"].startswith("Settings"), screen["text"]
    return answer


async def _buy(chat, localnet, sol: str, symbol: str = "BONK") -> dict:
    return await chat.final(await chat.say(f"/buy {localnet.token(symbol).mint} {sol}"))


async def _last_buy_slippage_bps(wallet) -> int:
    trade = await Trade.objects.filter(user=wallet, side="buy").order_by("-pk").afirst()
    return round(10_000 * (trade.quoted_out - trade.min_out) / trade.quoted_out)


async def _snipe(bot, chat, localnet):
    """A launch the sniper handles; this trader's outcome, or None when they were not sniping."""
    symbol = f"TG{next(_launches)}"
    token = localnet.create_token(symbol, decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15)
    outcomes = await bot.sniper.handle(Launch(mint=token.mint, signature=f"sig-{symbol}", name="s", symbol=symbol))
    mine = next((o for o in outcomes if o.telegram_user_id == chat.user_id), None)
    if mine is not None and mine.status == "bought":
        await chat.telegram.wait_for(chat.user_id, lambda m: "Sniped" in m.get("text", ""))
    return mine


async def _probe(case: str, bot, chat, localnet, wallet):
    """What the setting under attack lets happen right now, as an observable value."""
    if case == "slippage":
        assert "Bought" in (await _buy(chat, localnet, "0.1"))["text"]
        return await _last_buy_slippage_bps(wallet)
    if case == "max_trade":
        return (await _buy(chat, localnet, "2"))["text"]
    if case in ("snipe_amount", "snipe"):
        outcome = await _snipe(bot, chat, localnet)
        return None if outcome is None else (outcome.status, outcome.lamports)
    if case == "confirm":
        answer = await chat.say(f"/buy {localnet.token('BONK').mint} 0.1")
        if "✅ Buy" in buttons(answer):
            return "asked to confirm"
        return (await chat.final(answer))["text"]
    if case == "daily_spend":
        return (await _buy(chat, localnet, "0.6"))["text"]
    raise AssertionError(case)


# case: (commands before protection, the loosening, field, value in force, value asked for)
LOOSENINGS = {
    "slippage": ([], "/set slippage 10", "slippage_bps", 100, 1000),
    "max_trade": (["/set maxtrade 0.5"], "/set maxtrade 3", "max_trade_size_lamports", SOL // 2, 3 * SOL),
    "snipe_amount": (["/set snipe on"], "/set snipeamount 1", "snipe_amount_lamports", SOL // 10, SOL),
    "snipe": ([], "/set snipe on", "snipe_enabled", False, True),
    "confirm": (["/set confirm on"], "/set confirm off", "confirm_trades", True, False),
    "daily_spend": (["/set dailyspend 1"], "/set dailyspend 5", "daily_spend_limit_lamports", SOL, 5 * SOL),
}


@pytest.mark.parametrize("case", list(LOOSENINGS))
async def test_loosening_a_trading_setting_under_protection_waits_the_safety_delay(bot, clock, chat_factory,
                                                                                   localnet, case):
    setup, loosening, field, old, new = LOOSENINGS[case]
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    for command in setup:
        assert "saved" in (await _set(chat, command))["text"]
    assert "now wait" in (await chat.say("/withdrawdelay 5"))["text"]  # protection on

    answer = await _set(chat, loosening)
    assert "waits for safety" in answer["text"] and "takes effect at" in answer["text"], answer["text"]
    assert "Cancel the" in next(iter(buttons(answer)))
    assert getattr(await UserSettings.objects.aget(user=wallet), field) == old
    pending = await PendingSettingChange.objects.aget(user=wallet)
    assert pending.value == new and pending.effective_at > clock.now()
    screen = await chat.say("/settings")
    assert "Waiting for the safety delay" in screen["text"] and any(b.startswith("Cancel the") for b in buttons(screen))

    # Meanwhile nothing is traded at the loosened value.
    if case == "daily_spend":
        assert "Bought" in (await _probe(case, bot, chat, localnet, wallet))
    before = await _probe(case, bot, chat, localnet, wallet)
    expected_before = {
        "slippage": 100,
        "max_trade": "more than your maximum trade size of 0.5 SOL",
        "snipe_amount": ("bought", SOL // 10),
        "snipe": None,
        "confirm": "asked to confirm",
        "daily_spend": "over your daily spend cap of 1 SOL",
    }[case]
    if isinstance(expected_before, str) and case != "confirm":
        assert expected_before in before and "Bought" not in before, before
    else:
        assert before == expected_before
    clock.advance(hours=23)
    await bot.apply_due_settings()
    assert getattr(await UserSettings.objects.aget(user=wallet), field) == old

    # After the delay it is in force, and the trader is told.
    clock.advance(hours=1, seconds=1)
    await bot.apply_due_settings()
    told = await chat.telegram.wait_for(chat.user_id, lambda m: "Now in effect" in m.get("text", ""))
    assert told["text"].count("•") == 1
    assert getattr(await UserSettings.objects.aget(user=wallet), field) == new
    assert not await PendingSettingChange.objects.filter(user=wallet).aexists()
    after = await _probe(case, bot, chat, localnet, wallet)
    expected_after = {"slippage": 1000, "snipe_amount": ("bought", SOL), "snipe": ("bought", SOL // 10)}.get(case)
    if expected_after is not None:
        assert after == expected_after
    else:
        assert "Bought" in after, after

    delayed = await AuditEvent.objects.aget(user=wallet, action="setting_change_delayed")
    applied = await AuditEvent.objects.aget(user=wallet, action="setting_change_applied")
    assert delayed.detail["setting"] == applied.detail["setting"] == pending.setting
    assert delayed.detail["after"] == applied.detail["after"] == new


async def test_a_delayed_loosening_can_be_cancelled_and_tightening_applies_at_once(bot, clock, chat_factory,
                                                                                   localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=2)
    await _enable_2fa(chat, clock)  # the second factor alone is protection too
    announced = await _set(chat, "/set slippage 12")
    cancelled = await chat.press(announced, buttons(announced)["Cancel the slippage change"])
    assert "Cancelled: Slippage stays as it is" in cancelled["text"]
    await chat.telegram.next_reply(chat.user_id)  # the settings screen
    # A pending raise of the max trade size, then a lower value: the lower one applies at once and replaces it.
    await _set(chat, "/set maxtrade 8")
    assert "saved" in (await _set(chat, "/set maxtrade 0.2"))["text"]
    settings = await UserSettings.objects.aget(user=wallet)
    assert settings.slippage_bps == 100 and settings.max_trade_size_lamports == SOL // 5
    assert not await PendingSettingChange.objects.filter(user=wallet).aexists()
    clock.advance(hours=25)
    await bot.apply_due_settings()
    settings = await UserSettings.objects.aget(user=wallet)
    assert settings.slippage_bps == 100 and settings.max_trade_size_lamports == SOL // 5
    reasons = [d async for d in AuditEvent.objects.filter(user=wallet, action="setting_change_cancelled")
               .values_list("detail", flat=True)]
    assert sorted(r["setting"] for r in reasons) == ["max_trade", "slippage"]
    assert not await AuditEvent.objects.filter(user=wallet, action="setting_change_applied").aexists()


async def test_without_protection_a_loosening_applies_at_once(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    assert "saved" in (await _set(chat, "/set slippage 10"))["text"]
    assert (await UserSettings.objects.aget(user=wallet)).slippage_bps == 1000


async def test_the_daily_spend_cap_refuses_the_buy_that_crosses_it(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    assert "saved" in (await _set(chat, "/set dailyspend 1"))["text"]
    assert "Bought" in (await _buy(chat, localnet, "0.6"))["text"]
    balance, trades = localnet.chain.sol_balance(wallet.public_key), await Trade.objects.filter(user=wallet).acount()

    refused = await _buy(chat, localnet, "0.5", symbol="WIF")
    assert ("would go over your daily spend cap of 1 SOL" in refused["text"] and "spent 0.6 SOL" in refused["text"]
            and "0.4 SOL is left" in refused["text"]), refused["text"]
    assert localnet.chain.sol_balance(wallet.public_key) == balance
    assert await Trade.objects.filter(user=wallet).acount() == trades
    event = await AuditEvent.objects.aget(user=wallet, action="buy_refused")
    assert event.detail == {"rule": "daily spend cap", "lamports": SOL // 2, "limit": SOL, "spent": 6 * SOL // 10}

    # A snipe counts against the same cap.
    await _set(chat, "/set snipeamount 0.5")
    await _set(chat, "/set snipe on")
    outcome = await _snipe(bot, chat, localnet)
    assert outcome.status == "skipped" and "daily spend cap" in outcome.reason
    assert localnet.chain.sol_balance(wallet.public_key) == balance
    # What is left can still be bought.
    assert "Bought" in (await _buy(chat, localnet, "0.4", symbol="WIF"))["text"]


async def test_a_daily_spend_cap_above_the_operators_is_refused(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    refused = await _set(chat, "/set dailyspend 50")
    assert "cannot be above the operator's 10 SOL" in refused["text"] and "Nothing was changed" in refused["text"]
    assert (await UserSettings.objects.aget(user=wallet)).daily_spend_limit_lamports is None
    assert await AuditEvent.objects.filter(user=wallet, action="setting_refused").acount() == 1


async def test_slippage_above_the_operators_maximum_is_refused_and_a_stored_one_is_clamped(bot, chat_factory,
                                                                                           localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=2)
    refused = await _set(chat, "/set slippage 50")
    assert "Slippage above 15% is not allowed" in refused["text"] and "Type at most 15" in refused["text"]
    assert (await UserSettings.objects.aget(user=wallet)).slippage_bps == 100
    event = await AuditEvent.objects.aget(user=wallet, action="setting_refused")
    assert event.detail == {"setting": "slippage", "value": 5000, "maximum": 1500}

    # A value stored before the maximum existed (or by staff) is used as the maximum.
    await UserSettings.objects.filter(user=wallet).aupdate(slippage_bps=5000)
    assert "used as 15%, the operator's maximum" in (await chat.say("/settings"))["text"]
    assert "Bought" in (await _buy(chat, localnet, "0.1"))["text"]
    assert await _last_buy_slippage_bps(wallet) == 1500


async def test_a_buy_above_the_code_level_asks_for_a_code_and_a_wrong_code_buys_nothing(bot, clock, chat_factory,
                                                                                         localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    secret = await _enable_2fa(chat, clock)
    assert "saved" in (await _set(chat, "/set buycode 0.2"))["text"]  # tightening: at once
    mint = localnet.token("BONK").mint

    assert "Bought" in (await _buy(chat, localnet, "0.1"))["text"]  # at or under the level: no code
    balance, trades = localnet.chain.sol_balance(wallet.public_key), await Trade.objects.filter(user=wallet).acount()
    assert (await chat.say(f"/buy {mint} 0.5"))["text"] == texts.ASK_BUY_CODE
    right = totp.code_at(secret, clock.now())
    wrong = await chat.say(f"{(int(right) + 1) % 10**6:06d}")
    assert "Wrong code, so nothing was done" in wrong["text"]
    assert "not a 6-digit code" in (await chat.say("buy it"))["text"]
    assert localnet.chain.sol_balance(wallet.public_key) == balance
    assert await Trade.objects.filter(user=wallet).acount() == trades
    failed = await AuditEvent.objects.aget(user=wallet, action="totp_failed")
    assert failed.detail == {"purpose": "buy"}

    # The right code buys exactly what was asked.
    assert (await chat.say(f"/buy {mint} 0.5"))["text"] == texts.ASK_BUY_CODE
    done = await chat.final(await chat.say(totp.code_at(secret, clock.now())))
    assert "Bought" in done["text"]
    assert (await Trade.objects.filter(user=wallet).order_by("-pk").afirst()).lamports_in == SOL // 2


async def test_a_buy_at_a_slippage_above_the_code_level_asks_for_a_code_after_the_confirmation(bot, clock,
                                                                                               chat_factory,
                                                                                               localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    secret = await _enable_2fa(chat, clock)
    await _set(chat, "/set confirm on")
    assert "saved" in (await _set(chat, "/set buycodeslippage 0.5"))["text"]  # the 1% in force is above it
    question = await chat.say(f"/buy {localnet.token('BONK').mint} 0.1")
    assert "ask for the code" in question["text"]
    assert (await chat.press(question, buttons(question)["✅ Buy"]))["text"] == texts.ASK_BUY_CODE
    right = totp.code_at(secret, clock.now())
    assert "Wrong code" in (await chat.say(f"{(int(right) + 3) % 10**6:06d}"))["text"]
    assert not await Trade.objects.filter(user=wallet).aexists()
    # Raising the level (a loosening, 2FA on) waits; turning it off waits too.
    assert "waits for safety" in (await _set(chat, "/set buycodeslippage off"))["text"]
    assert (await UserSettings.objects.aget(user=wallet)).buy_code_slippage_bps == 50


async def test_the_reviews_attack_wider_slippage_and_three_times_the_size_moves_nothing(bot, clock, chat_factory,
                                                                                         localnet):
    """The review's attack: allow-list and withdrawal delay on, the chat in someone else's hands; they widen the
    slippage and buy three times the maximum size from a pool they control."""
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    await _set(chat, "/set maxtrade 1")
    await chat.say(f"/allowlist add {localnet.funded_keypair(sol=1).pubkey()}")
    await chat.say("/withdrawdelay 1")
    balance = localnet.chain.sol_balance(wallet.public_key)

    assert "Slippage above 15% is not allowed" in (await _set(chat, "/set slippage 50"))["text"]
    assert "waits for safety" in (await _set(chat, "/set slippage 15"))["text"]
    assert "waits for safety" in (await _set(chat, "/set maxtrade 3"))["text"]
    refused = await _buy(chat, localnet, "3")
    assert "more than your maximum trade size of 1 SOL" in refused["text"], refused["text"]

    assert localnet.chain.sol_balance(wallet.public_key) == balance
    assert not await Trade.objects.filter(user=wallet).aexists()
    settings = await UserSettings.objects.aget(user=wallet)
    assert settings.slippage_bps == 100 and settings.max_trade_size_lamports == SOL
    actions = [a async for a in AuditEvent.objects.filter(user=wallet).values_list("action", flat=True)]
    assert actions.count("setting_refused") == 1 and actions.count("setting_change_delayed") == 2
    assert actions.count("buy_refused") == 1


async def test_two_buys_at_once_cannot_together_cross_the_daily_spend_cap(engine, localnet, transactional_db):
    """A snipe and a manual buy (or two workers) each under the cap alone: only one of them may be spent."""
    import asyncio

    from positions.errors import DailySpendCapReached
    from tests.e2e.conftest import make_trader

    trader = await make_trader(engine, localnet, sol=5)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(daily_spend_limit_lamports=SOL)
    localnet.jupiter.faults.latency_ms = 200  # both pass the first check before either is recorded
    try:
        results = await asyncio.gather(trader.buy("BONK", 6 * SOL // 10), trader.buy("WIF", 6 * SOL // 10),
                                       return_exceptions=True)
    finally:
        localnet.jupiter.faults.latency_ms = 0
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], DailySpendCapReached), results
    assert "daily spend cap of 1 SOL" in refusal(refused[0])
    spent = [t async for t in Trade.objects.filter(user=trader.wallet).values_list("lamports_in", flat=True)]
    assert spent == [6 * SOL // 10]
    assert await AuditEvent.objects.filter(user=trader.wallet, action="buy_refused").acount() == 1
