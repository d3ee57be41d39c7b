"""A staff 2FA reset through the real admin and the real bot: it waits 24 hours, the user is told in Telegram at
once (the admin queues the notice, the bot sends it), a superuser can cancel it, and it applies once the clock has
moved past its time. A trader's code typed twice is answered as already used. Time is moved, never slept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from custody import totp
from custody.models import AuditEvent, Notice, SecondFactor
from custody.second_factor import CodeRefused
from telegrambot import texts
from tests.admin.otp import staff_client
from tests.e2e.test_custody import _enable_2fa, _started

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-password-1"


def _staff(username: str, *, superuser: bool) -> Client:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    if superuser:
        user = model.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    else:
        user = model.objects.create_user(username, password=PASSWORD, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="custody"))
    return staff_client(Client(), user, PASSWORD)


def _act(client: Client, action: str, factor_id: int):
    return client.post(reverse("admin:custody_secondfactor_changelist"),
                       {"action": action, "_selected_action": [factor_id]}, follow=True)


async def test_a_staff_reset_is_pending_for_24_hours_the_user_is_told_and_it_applies_after(bot, clock, chat_factory,
                                                                                           localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    await _enable_2fa(chat, clock)
    factor = await SecondFactor.objects.aget(user=wallet)
    clerk = await sync_to_async(_staff)("clerk", superuser=False)

    page = await sync_to_async(_act)(clerk, "request_reset", factor.pk)
    assert "Reset scheduled for 1 user(s)" in page.content.decode()
    factor = await SecondFactor.objects.aget(user=wallet)  # still there: nothing is switched off yet
    assert factor.reset_after is not None and factor.reset_requested_by == "staff clerk"
    await bot.deliver_notices()  # the bot's own job does this every few seconds; whichever comes first sends it
    told = await chat.telegram.next_reply(chat.user_id)
    assert told["text"] == texts.staff_notice("totp_reset_requested", {"at": factor.reset_after.isoformat()})
    assert "Staff asked to turn off two-step verification" in told["text"]
    assert "staff asked to turn it off" in (await chat.say("/2fa"))["text"]  # the user can see it pending
    listed = await sync_to_async(clerk.get)(reverse("admin:custody_secondfactor_changelist"))
    assert "staff clerk" in listed.content.decode()  # and so can staff

    # A second request does not move the time; the clerk cannot cancel.
    await sync_to_async(_act)(clerk, "request_reset", factor.pk)
    refused = await sync_to_async(_act)(clerk, "cancel_reset", factor.pk)
    assert "Only a superuser can cancel" in refused.content.decode()
    assert (await SecondFactor.objects.aget(user=wallet)).reset_after == factor.reset_after

    assert await bot.run_staff_resets() == 0  # not due: the second factor still guards withdrawals
    assert await SecondFactor.objects.filter(user=wallet, confirmed_at__isnull=False).aexists()

    clock._now = factor.reset_after + timedelta(seconds=1)
    await bot.run_staff_resets()  # or the job, whichever runs first: it applies once
    applied = await chat.telegram.next_reply(chat.user_id)
    assert applied["text"] == texts.staff_notice("totp_reset_applied", {})
    assert not await SecondFactor.objects.filter(user=wallet).aexists()
    actions = [(a, actor) async for a, actor in AuditEvent.objects.filter(user=wallet, action__startswith="totp_reset")
               .order_by("pk").values_list("action", "actor")]
    assert actions == [("totp_reset_requested", "staff clerk"), ("totp_reset_applied", "bot")]
    assert not await Notice.objects.filter(sent_at__isnull=True).aexists()


async def test_a_superuser_cancels_a_pending_reset_and_the_user_is_told(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    await _enable_2fa(chat, clock)
    factor = await SecondFactor.objects.aget(user=wallet)
    clerk = await sync_to_async(_staff)("clerk", superuser=False)
    boss = await sync_to_async(_staff)("boss", superuser=True)
    await sync_to_async(_act)(clerk, "request_reset", factor.pk)
    await bot.deliver_notices()
    assert "Staff asked" in (await chat.telegram.next_reply(chat.user_id))["text"]

    cancelled = await sync_to_async(_act)(boss, "cancel_reset", factor.pk)
    assert "Cancelled 1 pending reset" in cancelled.content.decode()
    await bot.deliver_notices()
    assert (await chat.telegram.next_reply(chat.user_id))["text"] == texts.staff_notice("totp_reset_cancelled", {})
    clock.advance(hours=25)
    assert await bot.run_staff_resets() == 0
    assert await SecondFactor.objects.filter(user=wallet, reset_after__isnull=True).aexists()
    actions = [a async for a in AuditEvent.objects.filter(user=wallet, action__startswith="totp_reset")
               .order_by("pk").values_list("action", "actor")]
    assert actions == [("totp_reset_requested", "staff clerk"), ("totp_reset_cancelled", "staff boss")]


async def test_a_code_typed_again_is_answered_as_already_used_not_as_wrong(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    secret = await _enable_2fa(chat, clock)  # confirmed with the code of 30 s ago (the clock has moved on)
    spent = totp.code_at(secret, clock.now() - timedelta(seconds=30))
    assert (await chat.say("/2fa off"))["text"] == texts.ASK_CODE
    again = await chat.say(spent)
    already_used = texts.refusal(CodeRefused(CodeRefused.Reason.ALREADY_USED))
    assert again["text"] == texts.refused(already_used) and "Wrong code" not in again["text"]
    factor = await SecondFactor.objects.aget(user=wallet)
    assert factor.failed_attempts == 0  # not a guess: not counted towards the lock
    assert await AuditEvent.objects.filter(user=wallet, action="totp_reused").acount() == 1
    assert (await chat.say(totp.code_at(secret, clock.now())))["text"] == texts.TWO_FACTOR_OFF  # still waiting
