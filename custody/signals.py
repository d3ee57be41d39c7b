"""Staff logins, good and bad, go into the audit log."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from custody.audit import record, request_source
from custody.models import AuditEvent


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    record(AuditEvent.Action.STAFF_LOGIN, actor=f"staff {user.get_username()}", source=request_source(request))


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))[:100]  # Django already removes the password
    record(AuditEvent.Action.STAFF_LOGIN_FAILED, actor=f"someone as {username!r}", source=request_source(request))
