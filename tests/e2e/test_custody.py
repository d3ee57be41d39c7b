"""Custody hardening through the real bot and the Bot API stand-in: the second factor, the allow-list, delayed
withdrawals, forged buttons, kill switches, token screening and the audit log. Time is moved, never slept."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from solders.keypair import Keypair

from custody import totp
from custody.models import AuditEvent, KillSwitch, SecondFactor
from localnet import Token2022Extensions
from positions.models import Position, Trade
from telegrambot import texts
from tests.e2e.conftest import buttons
from wallets.models import UserWallet, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


async def _started(chat, localnet, *, sol: int = 10) -> UserWallet:
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    if sol:
        localnet.chain.airdrop(wallet.public_key, sol * SOL)
    return wallet


async def _enable_2fa(chat, clock) -> bytes:
    setup = await chat.say("/2fa on")
    secret_text = re.search(r"set-up key\n(\S+)", setup["text"]).group(1)
    assert (await chat.telegram.next_reply(chat.user_id))["text"] == texts.ASK_SETUP_CODE
    secret = _decode(secret_text)
    done = await chat.say(totp.code_at(secret, clock.now()))
    assert done["text"] == texts.TWO_FACTOR_ON
    assert not any(secret_text in m.get("text", "") for m in chat.telegram.messages(chat.user_id)), \
        "the set-up message must be deleted once confirmed"
    clock.advance(seconds=30)  # the next code is a fresh one (a code works once)
    return secret


def _decode(base32_text: str) -> bytes:
    import base64

    return base64.b32decode(base32_text + "=" * (-len(base32_text) % 8))


async def _ask_withdrawal(chat, destination, amount: str) -> dict:
    question = await chat.say(f"/withdraw {destination} {amount}")
    assert "✅ Withdraw" in buttons(question), question["text"]
    return question


async def test_withdrawal_with_two_factor_no_code_wrong_codes_lock_then_right_code(bot, clock, chat_factory,
                                                                                 localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=3)
    secret = await _enable_2fa(chat, clock)
    destination = localnet.funded_keypair(sol=1).pubkey()
    before = localnet.chain.sol_balance(str(destination))

    # No code: anything but six digits cancels.
    question = await _ask_withdrawal(chat, destination, "0.5")
    assert "ask for the code" in question["text"]
    assert (await chat.press(question, buttons(question)["✅ Withdraw"]))["text"] == texts.ASK_CODE
    assert "not a 6-digit code" in (await chat.say("send it"))["text"]

    # Wrong codes: counted, then locked after five.
    question = await _ask_withdrawal(chat, destination, "0.5")
    await chat.press(question, buttons(question)["✅ Withdraw"])
    right = totp.code_at(secret, clock.now())
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    replies = [(await chat.say(wrong))["text"] for _ in range(5)]
    assert "4 more wrong codes" in replies[0] and "1 more wrong code " in replies[3]
    assert "locked until" in replies[4]
    assert "locked until" in (await chat.say("/withdraw " + str(destination) + " 0.5"))["text"]
    assert "locked until" in (await chat.say("/exportkey"))["text"]
    assert localnet.chain.sol_balance(str(destination)) == before
    # Asked, never confirmed: the requests wait unanswered, nothing was signed or scheduled.
    assert not await Withdrawal.objects.filter(user=wallet).exclude(status="requested").aexists()

    # After the lock, the right code sends the money.
    clock.advance(minutes=16)
    question = await _ask_withdrawal(chat, destination, "0.5")
    await chat.press(question, buttons(question)["✅ Withdraw"])
    done = await chat.final(await chat.say(totp.code_at(secret, clock.now())))
    assert "Sent 0.5 SOL" in done["text"]
    assert localnet.chain.sol_balance(str(destination)) == before + SOL // 2
    actions = [a async for a in AuditEvent.objects.filter(user=wallet).values_list("action", flat=True)]
    assert actions.count("totp_failed") == 5 and actions.count("totp_locked") == 1
    assert {"totp_enabled", "withdrawal_requested", "withdrawal_approved", "withdrawal_sent"} <= set(actions)


async def test_export_with_two_factor_needs_the_code_and_the_key_message_is_deleted(bot, clock, chat_factory,
                                                                                  localnet, keyring):
    from wallets.signing import export_secret_base58

    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    secret = await _enable_2fa(chat, clock)
    warning = await chat.say("/exportkey")
    assert (await chat.press(warning, buttons(warning)["✅ Show my key"]))["text"] == texts.ASK_CODE
    key = export_secret_base58(wallet=wallet, keyring=keyring)
    refused = await chat.say("000000" if totp.code_at(secret, clock.now()) != "000000" else "111111")
    assert "Wrong code" in refused["text"] and key not in refused["text"]
    key_message = await chat.say(totp.code_at(secret, clock.now()))
    assert key in key_message["text"]
    assert (await chat.telegram.next_reply(chat.user_id, timeout=10))["text"] == texts.KEY_DELETED
    assert not any(key in m.get("text", "") for m in chat.telegram.messages(chat.user_id))
    assert await AuditEvent.objects.filter(user=wallet, action="key_exported").acount() == 1


async def test_turning_two_factor_off_needs_a_code(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    secret = await _enable_2fa(chat, clock)
    assert (await chat.say("/2fa off"))["text"] == texts.ASK_CODE
    right = totp.code_at(secret, clock.now())
    assert "Wrong code" in (await chat.say(f"{(int(right) + 7) % 10**6:06d}"))["text"]
    assert await SecondFactor.objects.filter(user=wallet).aexists()
    assert (await chat.say(right))["text"] == texts.TWO_FACTOR_OFF  # still waiting for the code after a wrong one
    assert not await SecondFactor.objects.filter(user=wallet).aexists()


async def test_key_export_on_a_frozen_wallet_or_under_withdrawal_protection_is_refused(bot, clock, chat_factory,
                                                                                        localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    await UserWallet.objects.filter(pk=wallet.pk).aupdate(is_frozen=True)
    frozen = await chat.say("/exportkey")
    assert "paused on your account" in frozen["text"] and not buttons(frozen)
    await UserWallet.objects.filter(pk=wallet.pk).aupdate(is_frozen=False)

    # The key would walk around the delay and the allow-list: export waits until they are switched off.
    await chat.say("/withdrawdelay 1")
    delayed = await chat.say("/exportkey")
    assert "large-withdrawal delay is on" in delayed["text"] and "/withdrawdelay off" in delayed["text"]
    assert not buttons(delayed)
    await chat.say(f"/allowlist add {localnet.funded_keypair(sol=1).pubkey()}")
    both = await chat.say("/exportkey")
    assert "allow-list and large-withdrawal delay are on" in both["text"] and "/allowlist off" in both["text"]
    refusals = await AuditEvent.objects.filter(user=wallet, action="key_export_refused").acount()
    assert refusals == 2 and not await AuditEvent.objects.filter(user=wallet, action="key_exported").aexists()

    # Switched off (after the safety delay), export works again.
    await chat.say("/withdrawdelay off")
    await chat.say("/allowlist off")
    clock.advance(hours=25)
    allowed = await chat.say("/exportkey")
    assert "✅ Show my key" in buttons(allowed), allowed["text"]


async def test_key_export_with_two_factor_no_code_and_five_wrong_codes_lock_it(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    secret = await _enable_2fa(chat, clock)
    warning = await chat.say("/exportkey")
    assert (await chat.press(warning, buttons(warning)["✅ Show my key"]))["text"] == texts.ASK_CODE
    assert "not a 6-digit code" in (await chat.say("show it"))["text"]
    warning = await chat.say("/exportkey")
    await chat.press(warning, buttons(warning)["✅ Show my key"])
    right = totp.code_at(secret, clock.now())
    replies = [(await chat.say(f"{(int(right) + 3) % 10**6:06d}"))["text"] for _ in range(5)]
    assert "locked until" in replies[4]
    assert "locked until" in (await chat.say("/exportkey"))["text"]
    assert not await AuditEvent.objects.filter(user=wallet, action="key_exported").aexists()
    assert await AuditEvent.objects.filter(user=wallet, action="totp_failed").acount() == 5


async def test_first_withdrawal_recommends_two_factor(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet, sol=2)
    question = await chat.say(f"/withdraw {localnet.funded_keypair(sol=1).pubkey()} 0.5")
    assert "/2fa on" in question["text"]


async def test_allow_list_refuses_new_address_until_the_delay_passes(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=3)
    mine, other = localnet.funded_keypair(sol=1).pubkey(), localnet.funded_keypair(sol=1).pubkey()
    added = await chat.say(f"/allowlist add {mine} ledger")
    assert "Added" in added["text"] and "UTC" in added["text"]
    for destination in (mine, other):
        refused = await chat.say(f"/withdraw {destination} 0.5")
        assert "allow-list" in refused["text"] and "✅ Withdraw" not in buttons(refused)
    clock.advance(hours=24, seconds=1)
    assert "not on your withdrawal allow-list" in (await chat.say(f"/withdraw {other} 0.5"))["text"]
    before = localnet.chain.sol_balance(str(mine))
    question = await _ask_withdrawal(chat, mine, "0.5")
    assert "Sent 0.5 SOL" in (await chat.final(await chat.press(question, buttons(question)["✅ Withdraw"])))["text"]
    assert localnet.chain.sol_balance(str(mine)) == before + SOL // 2
    # Switching the list off waits too.
    assert "switches off at" in (await chat.say("/allowlist off"))["text"]
    assert "not on your withdrawal allow-list" in (await chat.say(f"/withdraw {other} 0.5"))["text"]
    clock.advance(hours=24, seconds=1)
    await _ask_withdrawal(chat, other, "0.5")
    refusals = await AuditEvent.objects.filter(user=wallet, action="withdrawal_refused").acount()
    assert refusals == 4


async def test_large_withdrawal_is_delayed_cancelled_or_held_and_then_sent(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    assert "now wait 2 h" in (await chat.say("/withdrawdelay 1"))["text"]
    destination = localnet.funded_keypair(sol=1).pubkey()
    before = localnet.chain.sol_balance(str(destination))

    # Delayed, then cancelled by the user: no funds move.
    question = await _ask_withdrawal(chat, destination, "2")
    assert "wait 2 h" in question["text"]
    delayed = await chat.press(question, buttons(question)["✅ Withdraw"])
    assert "Withdrawal delayed" in delayed["text"]
    cancelled = await chat.press(delayed, buttons(delayed)["Cancel this withdrawal"])
    assert "Cancelled" in cancelled["text"]
    clock.advance(hours=3)
    assert await bot.run_due_withdrawals() == 0
    assert localnet.chain.sol_balance(str(destination)) == before

    # Delayed and held by staff: not sent when due; sent after release.
    question = await _ask_withdrawal(chat, destination, "2")
    delayed = await chat.press(question, buttons(question)["✅ Withdraw"])
    scheduled = await Withdrawal.objects.aget(user=wallet, status="scheduled")
    from custody.withdrawals import hold_withdrawal

    assert await sync_to_async(hold_withdrawal)(scheduled.pk, hold=True, actor="staff alice", source="admin")
    clock.advance(hours=2, seconds=1)
    assert await bot.run_due_withdrawals() == 0
    assert localnet.chain.sol_balance(str(destination)) == before
    assert await sync_to_async(hold_withdrawal)(scheduled.pk, hold=False, actor="staff alice", source="admin")
    assert await bot.run_due_withdrawals() == 1
    sent = await chat.telegram.next_reply(chat.user_id, timeout=10)
    assert "delayed withdrawal was sent" in sent["text"]
    assert localnet.chain.sol_balance(str(destination)) == before + 2 * SOL
    # Too late to cancel now.
    late = await chat.press(delayed, buttons(delayed)["Cancel this withdrawal"])
    assert "can no longer be cancelled" in late["text"]
    # Loosening the threshold waits.
    assert "waits for safety" in (await chat.say("/withdrawdelay off"))["text"]
    actions = {a async for a in AuditEvent.objects.filter(user=wallet).values_list("action", flat=True)}
    assert {"withdrawal_scheduled", "withdrawal_cancelled", "withdrawal_held", "withdrawal_released",
            "withdrawal_sent", "policy_changed"} <= actions


async def test_withdrawals_in_pieces_under_the_threshold_are_delayed_once_their_24_hour_total_is_over(
        bot, clock, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet, sol=5)
    await chat.say("/withdrawdelay 1")
    destination = localnet.funded_keypair(sol=1).pubkey()
    first = await _ask_withdrawal(chat, destination, "0.6")
    assert "wait" not in first["text"]
    sent = await chat.final(await chat.press(first, buttons(first)["✅ Withdraw"]))
    assert "Sent 0.6 SOL" in sent["text"]
    second = await _ask_withdrawal(chat, destination, "0.6")  # 1.2 SOL within 24 h: over the 1 SOL threshold
    assert "over your large-withdrawal threshold" in second["text"]
    assert "Withdrawal delayed" in (await chat.press(second, buttons(second)["✅ Withdraw"]))["text"]
    clock.advance(hours=25)  # a day later the first no longer counts
    third = await _ask_withdrawal(chat, destination, "0.6")
    assert "threshold" not in third["text"]


async def test_wallet_lists_delayed_withdrawals_and_cancels_them(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    await chat.say("/withdrawdelay 1")
    destination = localnet.funded_keypair(sol=1).pubkey()
    before = localnet.chain.sol_balance(str(destination))
    question = await _ask_withdrawal(chat, destination, "2")
    await chat.press(question, buttons(question)["✅ Withdraw"])
    # The delay message is gone (deleted by whoever holds the account, say): /wallet still shows it.
    shown = await chat.say("/wallet")
    assert "Delayed withdrawals" in shown["text"] and str(destination) in shown["text"]
    cancelled = await chat.press(shown, buttons(shown)["Cancel withdrawal 1"])
    assert "Cancelled" in cancelled["text"]
    assert (await Withdrawal.objects.aget(user=wallet)).status == "cancelled"
    assert "Delayed withdrawals" not in (await chat.say("/wallet"))["text"]
    clock.advance(hours=3)
    assert await bot.run_due_withdrawals() == 0
    assert localnet.chain.sol_balance(str(destination)) == before


async def test_forged_callbacks_act_on_nothing_and_reveal_nothing(bot, clock, chat_factory, localnet):
    victim, attacker = chat_factory(), chat_factory()
    victim_wallet = await _started(victim, localnet, sol=5)
    own_menu = await attacker.say("/start")
    await victim.say("/withdrawdelay 1")
    destination = localnet.funded_keypair(sol=1).pubkey()
    question = await _ask_withdrawal(victim, destination, "2")
    await victim.press(question, buttons(question)["✅ Withdraw"])
    withdrawal = await Withdrawal.objects.aget(user=victim_wallet)
    # The attacker replays the victim's buttons with their own account.
    for data in (f"wc:{withdrawal.pk}", buttons(question)["✅ Withdraw"], "ok:AAAAAAAA", f"wc:{withdrawal.pk + 1}"):
        answer = await attacker.press(own_menu, data, forge=True)
        assert str(destination) not in answer["text"] and victim_wallet.public_key not in answer["text"]
        assert texts.SERVICE_PROBLEM not in answer["text"]
    await withdrawal.arefresh_from_db()
    assert withdrawal.status == "scheduled" and not withdrawal.cancelled_by


@pytest.mark.parametrize("action, scope", [(a, s) for a in ("buys", "sells", "withdrawals", "all")
                                           for s in ("global", "user")])
async def test_each_kill_switch_blocks_exactly_its_action(bot, chat_factory, localnet, action, scope):
    chat, bystander = chat_factory(), chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    await _started(bystander, localnet, sol=5)
    mint = localnet.token("BONK").mint
    for person in (chat, bystander):
        await person.final(await person.say(f"/buy {mint} 0.1"))
    arguments = ["on", action, "--reason", "incident drill"] + (["--user", str(chat.user_id)] if scope == "user"
                                                               else [])
    await sync_to_async(call_command)("killswitch", *arguments)
    destination = localnet.funded_keypair(sol=1).pubkey()

    async def attempts(person) -> dict[str, bool]:
        """Which actions went through (True) or were refused as paused (False)."""
        buy = await person.final(await person.say(f"/buy {mint} 0.1"))
        sell = await person.final(await person.say(f"/sell {mint} 10%"))
        withdraw = await person.say(f"/withdraw {destination} 0.1")
        export = await person.say("/exportkey")
        outcome = {"buys": "Bought" in buy["text"], "sells": "Sold" in sell["text"],
                   "withdrawals": "✅ Withdraw" in buttons(withdraw)}
        # Key export moves money out just as well: the withdrawals switch pauses it too.
        assert ("✅ Show my key" in buttons(export)) == outcome["withdrawals"], export["text"]
        assert outcome["withdrawals"] or "key export are paused" in export["text"]
        for reply in (buy, sell, withdraw):
            assert "paused" in reply["text"] or "✅" in reply["text"] or "Withdraw" in reply["text"], reply["text"]
        return outcome

    blocked = {"buys", "sells", "withdrawals"} if action == "all" else {action}
    mine = await attempts(chat)
    assert {name for name, went in mine.items() if not went} == blocked
    theirs = await attempts(bystander)
    assert {name for name, went in theirs.items() if not went} == (blocked if scope == "global" else set())
    trades = await Trade.objects.filter(user=wallet, side="buy").acount()
    assert trades == (1 if "buys" in blocked else 2)
    events = [e async for e in AuditEvent.objects.filter(action="kill_switch_on").values_list("detail", flat=True)]
    assert events[-1]["switch"] == action and events[-1]["reason"] == "incident drill"
    await sync_to_async(call_command)("killswitch", "off", action, *(["--user", str(chat.user_id)]
                                                                     if scope == "user" else []))
    assert not await KillSwitch.objects.aexists()


async def test_sniping_kill_switch_and_metrics_show_switches(bot, chat_factory, telegram, localnet):
    from tests.e2e.conftest import Chat

    await sync_to_async(call_command)("killswitch", "on", "sniping")
    admin = Chat(telegram, 900001)
    await admin.say("/start")
    report = await admin.say("/metrics")
    assert "sniping paused for everyone" in report["text"]
    from positions.sniping import Launch

    chat = chat_factory()
    wallet = await _started(chat, localnet)
    await chat.say("/set snipe on")
    await chat.telegram.next_reply(chat.user_id)
    token = localnet.create_token("SNP", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15)
    outcomes = await bot.sniper.handle(Launch(mint=token.mint, signature="sig-kill", name="s", symbol="SNP"))
    assert [o.reason for o in outcomes if o.telegram_user_id == chat.user_id] == [
        "sniping is paused by the operators"]
    assert not await Trade.objects.filter(user=wallet).aexists()


@pytest.mark.parametrize("action, scope", [("sniping", "user"), ("all", "global"), ("all", "user")])
async def test_sniping_pauses_per_user_and_with_all(bot, chat_factory, localnet, action, scope):
    from positions.sniping import Launch

    chat, bystander = chat_factory(), chat_factory()
    wallets = {}
    for person in (chat, bystander):
        wallets[person.user_id] = await _started(person, localnet)
        await person.say("/set snipe on")
        await person.telegram.next_reply(person.user_id)
    await sync_to_async(call_command)("killswitch", "on", action,
                                      *(["--user", str(chat.user_id)] if scope == "user" else []))
    token = localnet.create_token(f"SN{action[:2].upper()}{scope[0].upper()}", decimals=6,
                                  pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15)
    outcomes = await bot.sniper.handle(Launch(mint=token.mint, signature=f"sig-{action}-{scope}", name="s",
                                              symbol="SN"))
    by_user = {o.telegram_user_id: o for o in outcomes}
    assert by_user[chat.user_id].reason == "sniping is paused by the operators"
    assert not await Trade.objects.filter(user=wallets[chat.user_id]).aexists()
    if scope == "user":  # the bystander's snipe goes through
        assert by_user[bystander.user_id].status == "bought", by_user[bystander.user_id]
    else:
        assert by_user[bystander.user_id].reason == "sniping is paused by the operators"


@pytest.mark.parametrize("make, reason", [
    (lambda net: net.create_token("FRZ", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                  freeze_authority=True), "freeze authority"),
    (lambda net: net.create_token("FRZ22", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                  freeze_authority=True, token_2022=True), "freeze authority"),
    (lambda net: net.create_token("DLG", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                  extensions=Token2022Extensions(permanent_delegate=Keypair().pubkey())),
     "permanent delegate"),
    (lambda net: net.create_token("HOOK", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                  extensions=Token2022Extensions(transfer_hook_program=Keypair().pubkey())),
     "transfer hook"),
    (lambda net: net.create_token("FEE", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                  extensions=Token2022Extensions(transfer_fee_bps=2500)), "25% fee"),
])
async def test_dangerous_tokens_are_refused_before_any_transaction(bot, chat_factory, localnet, make, reason):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    token = make(localnet)
    card = await chat.say(token.mint)
    assert "Safety check: ⛔" in card["text"] and reason in card["text"]
    assert not any(label.startswith("Buy") for label in buttons(card))
    sends_before = sum(1 for _, name in localnet.request_log() if name == "sendTransaction")
    refused = await chat.final(await chat.say(f"/buy {token.mint} 0.1"))
    assert "refused before anything was sent" in refused["text"] and reason in refused["text"]
    assert sum(1 for _, name in localnet.request_log() if name == "sendTransaction") == sends_before
    assert not await Trade.objects.filter(user=wallet).aexists()
    assert not await Position.objects.filter(user=wallet).aexists()


async def test_a_clean_token_card_shows_the_passed_check(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    card = await chat.say(localnet.token("BONK").mint)
    assert "Safety check: ✅ passed" in card["text"] and "Buy 0.1 SOL" in buttons(card)
    fee = localnet.create_token("SMALLFEE", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                extensions=Token2022Extensions(transfer_fee_bps=50))
    card = await chat.say(fee.mint)
    assert "Safety check: ⚠️ passed, with warnings: 0.5% transfer fee" in card["text"]


async def test_audit_log_has_each_event_and_no_secret(bot, clock, chat_factory, localnet, keyring):
    from wallets.signing import export_secret_base58

    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=3)
    secret = await _enable_2fa(chat, clock)
    await chat.say("/set slippage 0.5")  # tightening: at once (a loosening would wait, 2FA being on)
    await chat.telegram.next_reply(chat.user_id)  # the settings screen follows the confirmation
    warning = await chat.say("/exportkey")
    assert "✅ Show my key" in buttons(warning), [m.get("text") for m in chat.telegram.messages(chat.user_id)][-4:]
    await chat.press(warning, buttons(warning)["✅ Show my key"])
    right = totp.code_at(secret, clock.now())
    await chat.say(f"{(int(right) + 5) % 10**6:06d}")  # a wrong code first
    await chat.say(right)
    await chat.telegram.next_reply(chat.user_id, timeout=10)  # the key message is deleted
    await chat.say(f"/allowlist add {localnet.funded_keypair(sol=1).pubkey()}")
    await chat.say("/exportkey")  # refused now: the allow-list is on
    await sync_to_async(call_command)("killswitch", "on", "buys", "--user", str(chat.user_id))
    await sync_to_async(call_command)("killswitch", "off", "buys", "--user", str(chat.user_id))
    factor = await SecondFactor.objects.aget(user=wallet)
    clock.advance(seconds=30)
    await chat.say("/2fa off")
    await chat.say(totp.code_at(secret, clock.now()))
    actions = [a async for a in AuditEvent.objects.filter(user=wallet).values_list("action", flat=True)]
    each_once = {"wallet_created", "totp_enabled", "settings_changed", "key_exported", "totp_failed",
                 "allowlist_added", "key_export_refused", "kill_switch_on", "kill_switch_off", "totp_disabled"}
    assert {action: actions.count(action) for action in each_once} == dict.fromkeys(each_once, 1), actions
    created = await AuditEvent.objects.aget(user=wallet, action="wallet_created")
    assert created.actor.startswith(f"user {chat.user_id}") and created.source == "telegram"
    switch = await AuditEvent.objects.filter(user=wallet, action="kill_switch_on").afirst()
    assert switch.actor.startswith("operator ") and switch.source == "manage.py killswitch"
    key = export_secret_base58(wallet=wallet, keyring=keyring)
    forbidden = [key, totp.base32(secret), factor.encrypted_secret, wallet.encrypted_secret]
    from io import StringIO

    for output_format in ("csv", "json"):
        out = StringIO()
        await sync_to_async(call_command)("export_audit", "--format", output_format, stdout=out)
        exported = out.getvalue()
        assert "wallet_created" in exported
        assert not any(value in exported for value in forbidden)


async def test_a_key_message_left_by_a_crash_is_deleted_at_the_next_start(bot_config, telegram, transactional_db):
    """The process died before deleting it: the row in the database makes the next start delete it."""
    import asyncio
    import json
    import urllib.request

    from django.utils import timezone

    from custody.models import SensitiveMessage
    from telegrambot.runner import BotRunner

    chat_id = 840_001
    request = urllib.request.Request(f"{telegram.url}/bot{telegram.token}/sendMessage", method="POST",
                                     data=json.dumps({"chat_id": chat_id, "text": "key: SECRETSECRET"}).encode(),
                                     headers={"Content-Type": "application/json"})
    sent = json.loads(urllib.request.urlopen(request, timeout=5).read())["result"]
    await SensitiveMessage.objects.acreate(chat_id=chat_id, message_id=sent["message_id"], kind="key",
                                           delete_after=timezone.now())
    runner = BotRunner(bot_config)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_polling(stop))
    notice = await telegram.wait_for(chat_id, lambda m: m.get("text") == texts.KEY_DELETED, timeout=20)
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    assert notice and not any("SECRETSECRET" in m.get("text", "") for m in telegram.messages(chat_id))
    assert not await SensitiveMessage.objects.aexists()


async def test_withdrawal_to_a_program_or_token_account_is_refused_before_asking(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet, sol=2)
    program = await chat.say("/withdraw 11111111111111111111111111111111 0.5")
    pool = localnet.token("BONK").mint  # a mint account is owned by the token program
    mint_account = await chat.say(f"/withdraw {pool} 0.5")
    for refused in (program, mint_account):
        assert "not a wallet" in refused["text"] and "✅ Withdraw" not in buttons(refused)
    assert not await Withdrawal.objects.aexists()


async def test_a_delayed_withdrawal_waits_while_withdrawals_are_paused(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    await chat.say("/withdrawdelay 1")
    destination = localnet.funded_keypair(sol=1).pubkey()
    question = await _ask_withdrawal(chat, destination, "2")
    await chat.press(question, buttons(question)["✅ Withdraw"])
    await sync_to_async(call_command)("killswitch", "on", "withdrawals")
    clock.advance(hours=3)
    for _ in range(3):  # every cycle of a long pause: still delayed, and no refusal written each time
        assert await bot.run_due_withdrawals() == 0
    assert (await Withdrawal.objects.aget(user=wallet)).status == "scheduled"
    assert not await AuditEvent.objects.filter(user=wallet, action="withdrawal_refused").aexists()
    await sync_to_async(call_command)("killswitch", "off", "withdrawals")
    assert await bot.run_due_withdrawals() == 1
    assert (await Withdrawal.objects.aget(user=wallet)).status == "confirmed"


def _button_key(chat, data: str) -> str:
    return f"tradingbot:button:{chat.user_id}:{data.split(':', 1)[1]}"


async def test_a_tampered_cache_entry_cannot_redirect_a_withdrawal(bot, chat_factory, localnet):
    """Whoever can write to the shared cache (Redis) rewrites a pending confirmation: the destination and amount
    sent are still the ones the user confirmed, read from the database."""
    from django.core.cache import cache

    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=3)
    victim_other = chat_factory()
    other_wallet = await _started(victim_other, localnet, sol=3)
    destination, attacker = localnet.funded_keypair(sol=1).pubkey(), localnet.funded_keypair(sol=1).pubkey()
    before, attacker_before = (localnet.chain.sol_balance(str(destination)),
                               localnet.chain.sol_balance(str(attacker)))

    # The old shape (destination and amount in the cache) is not trusted at all.
    question = await _ask_withdrawal(chat, destination, "0.5")
    data = buttons(question)["✅ Withdraw"]
    await cache.aset(_button_key(chat, data), {"kind": "withdraw", "destination": str(attacker),
                                               "lamports": 2 * SOL}, 600)
    assert (await chat.press(question, data))["text"] == texts.EXPIRED_BUTTON

    # Another user's withdrawal request named in the button: refused.
    theirs = await _ask_withdrawal(victim_other, attacker, "1")
    their_row = await Withdrawal.objects.aget(user=other_wallet, status="requested")
    question = await _ask_withdrawal(chat, destination, "0.5")
    data = buttons(question)["✅ Withdraw"]
    await cache.aset(_button_key(chat, data), {"kind": "withdraw", "withdrawal": their_row.pk}, 600)
    refused = await chat.final(await chat.press(question, data))
    assert "expired or was already answered" in refused["text"]
    assert buttons(theirs)  # the other user's request is untouched

    # The right row, with a rewritten destination and amount beside it: the row's own are sent.
    question = await _ask_withdrawal(chat, destination, "0.5")
    data = buttons(question)["✅ Withdraw"]
    action = await cache.aget(_button_key(chat, data))
    await cache.aset(_button_key(chat, data), {**action, "destination": str(attacker), "lamports": 2 * SOL}, 600)
    sent = await chat.final(await chat.press(question, data))
    assert "Sent 0.5 SOL" in sent["text"]
    assert localnet.chain.sol_balance(str(destination)) == before + SOL // 2
    assert localnet.chain.sol_balance(str(attacker)) == attacker_before
    assert await Withdrawal.objects.filter(destination=str(attacker)).exclude(status="requested").acount() == 0
    event = await AuditEvent.objects.aget(user=wallet, action="withdrawal_sent")
    assert event.detail["destination"] == str(destination) and event.detail["lamports"] == SOL // 2


async def test_a_pickle_planted_in_the_cache_runs_nothing_and_is_audited(bot, chat_factory, localnet, tmp_path):
    import pickle
    import time
    from pathlib import Path

    from django.core.cache import cache

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "code-ran",))

    chat = chat_factory()
    await _started(chat, localnet, sol=3)
    destination = localnet.funded_keypair(sol=1).pubkey()
    before = localnet.chain.sol_balance(str(destination))
    question = await _ask_withdrawal(chat, destination, "0.5")
    data = buttons(question)["✅ Withdraw"]
    key = cache.make_and_validate_key(_button_key(chat, data))
    cache._cache[key] = pickle.dumps(Payload())  # what a writer to Redis could plant
    cache._expire_info[key] = time.time() + 600
    answer = await chat.press(question, data)
    assert answer["text"] == texts.NOT_YOURS
    assert not (tmp_path / "code-ran").exists()
    assert localnet.chain.sol_balance(str(destination)) == before
    assert await AuditEvent.objects.filter(action="cache_entry_refused").aexists()
