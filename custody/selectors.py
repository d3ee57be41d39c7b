"""Reads over the custody records, for the staff dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from custody.models import AuditEvent


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
