"""The second factor for staff signing in to the admin: django-otp's TOTP devices and its OTPAdminSite.

An operator enrols a staff member's authenticator with ``manage.py staff_otp add <username>`` (the one time the
otpauth:// address is shown); the admin then accepts only sessions verified by one of that member's devices.
Device keys are never shown in the admin."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody import audit


class StaffOTPError(Exception):
    """An enrolment that cannot be done; ``str()`` says why and what to type instead."""


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code, in one step: with one authenticator enrolled it is the one checked, so the
    device list django-otp would show after a first attempt is not needed."""

    otp_error_messages = dict(
        OTPAdminAuthenticationForm.otp_error_messages,
        token_required="Type the 6-digit code from your authenticator app: staff sign-in needs it.",
        invalid_token="That authenticator code is wrong or was already used. Type the code your app shows now.",
        device_required="This account has no authenticator enrolled, so it cannot sign in here. An operator enrols "
                        "one with: python manage.py staff_otp add <username>",
    )

    def clean_otp(self, user):
        try:
            super().clean_otp(user)
        except ValidationError as refusal:
            # The password was right: a wrong code is the sign of a stolen password, worth a row of its own.
            audit.record(audit.Action.STAFF_LOGIN_FAILED, actor=f"someone as {user.get_username()!r}",
                         source=audit.request_source(self.request),
                         reason=f"authenticator: {refusal.code or 'slowed down'}")
            raise

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True)[:2])
            if len(devices) == 1:
                device = devices[0]
        return device


class StaffOTPAdminSite(OTPAdminSite):
    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)  # the ordinary admin's name, so every admin URL stays where it was


def add_device(*, username: str, name: str = "authenticator") -> TOTPDevice:
    """A new confirmed TOTP device for a staff member; the caller shows its ``config_url`` once."""
    user = _staff(username)
    with transaction.atomic():
        if TOTPDevice.objects.filter(user=user, name=name).exists():
            raise StaffOTPError(f"{username} already has an authenticator named {name!r}. Remove it first "
                                f"(staff_otp remove {username} --name {name}) or choose another --name.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
    audit.record(audit.Action.STAFF_OTP_ADDED, actor=audit.operator(), source="manage.py staff_otp",
                 staff=username, device=name)
    return device


def remove_devices(*, username: str, name: str | None = None) -> int:
    user = _staff(username)
    devices = TOTPDevice.objects.filter(user=user)
    if name is not None:
        devices = devices.filter(name=name)
    removed, _ = devices.delete()
    if removed:
        audit.record(audit.Action.STAFF_OTP_REMOVED, actor=audit.operator(), source="manage.py staff_otp",
                     staff=username, device=name or "all", removed=removed)
    return removed


def enrolled() -> list[tuple[str, str, bool]]:
    """(username, device name, confirmed) for every device: names only, never keys."""
    return [(device.user.get_username(), device.name, device.confirmed)
            for device in TOTPDevice.objects.select_related("user").order_by("user_id", "name")]


def _staff(username: str):
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None:
        raise StaffOTPError(f"There is no account named {username!r}. Create it first with: python manage.py "
                            "createsuperuser (or in the admin), then enrol its authenticator.")
    if not user.is_staff:
        raise StaffOTPError(f"{username} is not a staff account, so it cannot sign in to the admin. Tick 'Staff "
                            "status' for it first.")
    return user
