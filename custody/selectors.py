"""Reads over the custody records: for the staff dashboard, the bot's views and the money-out service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from custody.models import AuditEvent
from custody.policy import needs_delay
from wallets.models import UserWallet, Withdrawal


@dataclass(frozen=True)
class SwapRefusals:
    count: int
    latest: list[AuditEvent]


def swap_refusals(*, days: int = 7, shown: int = 5, now: datetime | None = None) -> SwapRefusals:
    """Swap transactions refused before signing in the last ``days`` days: a non-zero count means the swap API
    answered with something it should not have, and staff should look."""
    since = (now or timezone.now()) - timedelta(days=days)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SWAP_REFUSED, created_at__gte=since)
    return SwapRefusals(count=events.count(), latest=list(events.select_related("user")[:shown]))


def scheduled_withdrawals(wallet: UserWallet, limit: int = 10) -> list[Withdrawal]:
    """A user's delayed withdrawals not sent yet, soonest first (shown in /wallet with Cancel buttons)."""
    return list(Withdrawal.objects.filter(user=wallet, status=Withdrawal.Status.SCHEDULED)
                .order_by("execute_after", "pk")[:limit])


def due_withdrawals(now: datetime) -> list[int]:
    """Delayed withdrawals whose time has come and that no staff member holds, soonest first."""
    due = Withdrawal.objects.filter(status=Withdrawal.Status.SCHEDULED, held_at__isnull=True, execute_after__lte=now)
    return list(due.order_by("execute_after").values_list("pk", flat=True))


def is_first_withdrawal(wallet: UserWallet) -> bool:
    """No withdrawal of this user ever went past its confirmation button."""
    return not Withdrawal.objects.filter(user=wallet).exclude(status=Withdrawal.Status.REQUESTED).exists()


def will_wait(wallet: UserWallet, withdrawal_id: int, now: datetime) -> bool:
    """A guess for the first message only ("Sending…" or not): the service decides under the user's lock."""
    lamports = Withdrawal.objects.filter(pk=withdrawal_id, user=wallet).values_list("lamports", flat=True).first()
    return lamports is not None and needs_delay(wallet, lamports, now)
