"""The audit log cannot be rewritten behind the model's back: PostgreSQL refuses UPDATE and DELETE on it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from custody import audit
from custody.models import AuditEvent
from custody.services import get_or_create_user_wallet


@pytest.fixture
def event(postgres_only) -> AuditEvent:
    wallet = get_or_create_user_wallet(990_001, "audited").wallet
    audit.record(audit.Action.WITHDRAWAL_SENT, actor="bot", source=audit.BOT, user=wallet, lamports=10**9,
                 destination="Dest1111")
    return AuditEvent.objects.get(user=wallet, action="withdrawal_sent")


def test_a_bulk_update_of_the_audit_log_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(detail={"lamports": 1, "destination": "Attacker"})
    event.refresh_from_db()
    assert event.detail == {"lamports": 10**9, "destination": "Dest1111"}


def test_a_bulk_delete_and_raw_sql_are_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk)._raw_delete(connection.alias)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_events SET actor = 'nobody' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_events")
    assert AuditEvent.objects.filter(pk=event.pk, actor="bot").exists()


def test_unlinking_a_deleted_wallets_events_is_the_one_update_allowed(event):
    with transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(user=None)
    event.refresh_from_db()
    assert event.user_id is None and event.detail["destination"] == "Dest1111"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(user=None, actor="someone else")


def test_an_audit_detail_holding_a_nul_character_is_still_written(db):
    from custody import audit
    from custody.models import AuditEvent

    audit.record(AuditEvent.Action.REFUSED_OUTSIDE_PRIVATE_CHAT, actor="user 1\x00", source="telegram",
                 used="button \x00", nested={"typed": ["a\x00b"]})
    event = AuditEvent.objects.get(action=AuditEvent.Action.REFUSED_OUTSIDE_PRIVATE_CHAT)
    assert event.actor == "user 1" and event.detail == {"used": "button ", "nested": {"typed": ["ab"]}}
