"""Kill switches: operators pause buys, sells, withdrawals, sniping or everything, globally or for one user.

The state lives in the database (it survives restarts and is shared by every process) and is read on every guarded
action: one small indexed query.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q

from custody import audit
from custody.errors import ActionPaused
from custody.models import KillSwitch
from wallets.models import UserWallet

Action = KillSwitch.Action


def active_switch(action: str, telegram_user_id: int | None = None) -> KillSwitch | None:
    """The switch that pauses ``action`` for this user (or globally), if any; a global one wins."""
    scope = Q(user__isnull=True)
    if telegram_user_id is not None:
        scope |= Q(user__telegram_user_id=telegram_user_id)
    switches = list(KillSwitch.objects.filter(scope, action__in=[action, Action.ALL]).only("action", "user_id"))
    switches.sort(key=lambda switch: switch.user_id is not None)
    return switches[0] if switches else None


def ensure_allowed(action: str, telegram_user_id: int | None = None) -> None:
    """Raise ActionPaused (a clear, user-facing refusal) if ``action`` is paused for this user."""
    switch = active_switch(action, telegram_user_id)
    if switch is not None:
        raise ActionPaused(Action(action).value, for_everyone=switch.user_id is None)


def pause(action: str, *, user: UserWallet | None = None, reason: str = "", actor: str, source: str) -> bool:
    """Turn a switch on; False if it was already on."""
    try:
        with transaction.atomic():
            KillSwitch.objects.create(action=action, user=user, reason=reason[:200], created_by=actor[:150])
    except IntegrityError:
        return False
    audit.record(audit.Action.KILL_SWITCH_ON, actor=actor, source=source, user=user, switch=action,
                 scope="user" if user else "global", reason=reason)
    return True


def resume(action: str, *, user: UserWallet | None = None, actor: str, source: str) -> bool:
    """Turn a switch off; False if it was not on."""
    switches = KillSwitch.objects.filter(action=action, user=user) if user else KillSwitch.objects.filter(
        action=action, user__isnull=True)
    deleted, _ = switches.delete()
    if deleted:
        audit.record(audit.Action.KILL_SWITCH_OFF, actor=actor, source=source, user=user, switch=action,
                     scope="user" if user else "global")
    return bool(deleted)


def summary() -> list[tuple[str, str]]:
    """(action, scope) for every switch that is on, for /metrics and the status command."""
    rows = []
    for switch in KillSwitch.objects.select_related("user").order_by("action", "user_id"):
        scope = f"user {switch.user.telegram_user_id}" if switch.user_id else "everyone"
        rows.append((switch.action, scope))
    return rows
