"""Staff sign-in with a real second factor: enrol a TOTP device through the operator's command, read the otpauth://
address it prints once, and type the code an authenticator app would show."""

from __future__ import annotations

import time
from io import StringIO

import pyotp
from django.core.management import call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice


def enrol(username: str) -> pyotp.TOTP:
    out = StringIO()
    call_command("staff_otp", "add", username, stdout=out)
    uri = out.getvalue().strip().splitlines()[-1]
    assert uri.startswith("otpauth://totp/")
    return pyotp.parse_uri(uri)


def fresh_code(username: str, app: pyotp.TOTP) -> str:
    """The code for the current step, or the next one if this step's code was already spent on a sign-in (a code
    works once; the device accepts one step of drift)."""
    device = TOTPDevice.objects.get(user__username=username)
    return app.generate_otp(max(int(time.time()) // 30, device.last_t + 1))


def sign_in(client, username: str, password: str, app: pyotp.TOTP | None = None):
    app = app or enrol(username)
    return client.post(reverse("admin:login"), {"username": username, "password": password,
                                                "otp_token": fresh_code(username, app), "next": "/admin/"})


def staff_client(client, user, password: str):
    response = sign_in(client, user.get_username(), password)
    assert response.status_code == 302, response.content.decode()[:3000]
    return client
