"""Staff logins, good and bad, go into the audit log."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from custody.audit import record, request_source
from custody.models import AuditEvent


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    record(AuditEvent.Action.STAFF_LOGIN, actor=f"staff {user.get_username()}", source=request_source(request))


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django removes the password, but people type passwords into the username box too: a name that is no
    # account's is not written down.
    username = str(credentials.get("username", ""))[:150]
    known = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).exists()
    actor = f"someone as {username!r}" if known else "someone with an unknown username"
    record(AuditEvent.Action.STAFF_LOGIN_FAILED, actor=actor, source=request_source(request))
