"""The chat page, and the demo staff member's current sign-in code (the page shows it next to the admin link)."""

from __future__ import annotations

import secrets
import time

from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from sandbox.consumers import CHAT_SALT, WELCOME_AIRDROP_SOL
from sandbox.demo import DEMO_STAFF_PASSWORD, DEMO_STAFF_USERNAME

SESSION_KEY = "sandbox_user_id"


def chat_page(request: HttpRequest) -> HttpResponse:
    """Each browser is one Telegram user (kept in its session), so a reload shows the same chat."""
    user_id = request.session.get(SESSION_KEY)
    if user_id is None:
        user_id = request.session[SESSION_KEY] = 1_000_000 + secrets.randbelow(9_000_000)
    return render(request, "sandbox/chat.html", {
        "chat_token": signing.dumps(user_id, salt=CHAT_SALT), "user_id": user_id,
        "staff_username": DEMO_STAFF_USERNAME, "staff_password": DEMO_STAFF_PASSWORD,
        "welcome_sol": WELCOME_AIRDROP_SOL, "admin_url": reverse("dashboard"),
        "staff_code_url": reverse("sandbox:staff-code"),
    })


def staff_code(request: HttpRequest) -> JsonResponse:
    """The code the demo staff member's authenticator would show now (what the admin's sign-in asks for)."""
    device = TOTPDevice.objects.filter(user__username=DEMO_STAFF_USERNAME, confirmed=True).first()
    if device is None:
        return JsonResponse({"code": None, "seconds_left": 0})
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    code = str(totp.token()).zfill(device.digits)
    return JsonResponse({"code": code, "seconds_left": device.step - int(time.time() - device.t0) % device.step})
