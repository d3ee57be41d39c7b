"""Messages for traders queued by processes that do not run the bot (the admin), delivered by the bot process.

The admin has no Telegram client of its own; it writes a row, and the bot's job claims and sends it. Claiming
stamps ``sent_at`` first (one UPDATE that only one worker can win), so two bot workers never send it twice; a send
that fails puts the row back for the next round."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from custody.models import Notice
from wallets.models import UserWallet

Kind = Notice.Kind
BATCH = 50


def queue_notice(*, wallet: UserWallet, kind: str, **detail) -> Notice:
    return Notice.objects.create(telegram_user_id=wallet.telegram_user_id, kind=kind, detail=detail)


def claim_unsent(*, now: datetime | None = None, limit: int = BATCH) -> list[Notice]:
    """The oldest unsent notices, each now marked sent by this caller alone."""
    now = now or timezone.now()
    claimed = []
    for notice in Notice.objects.filter(sent_at__isnull=True).order_by("created_at", "id")[:limit]:
        # The race between two workers is decided here: only one UPDATE finds sent_at still empty.
        if Notice.objects.filter(pk=notice.pk, sent_at__isnull=True).update(sent_at=now):
            notice.sent_at = now
            claimed.append(notice)
    return claimed


def release(notice_id: int) -> None:
    """Sending failed: the notice goes back to the queue."""
    with transaction.atomic():
        Notice.objects.filter(pk=notice_id).update(sent_at=None)
