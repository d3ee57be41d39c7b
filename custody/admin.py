"""Staff pages for custody: the audit log (read-only, exportable), kill switches, delayed withdrawals (hold,
release, cancel), second factors (status only, never the secret), allow-lists and policies. Every staff action
here is itself written to the audit log."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpResponse

from custody import audit
from custody.models import AllowedAddress, AuditEvent, KillSwitch, SecondFactor, WithdrawalPolicy
from tradingbot.exports import csv_response
from wallets.models import Withdrawal
from wallets.withdrawals import cancel_withdrawal, hold_withdrawal

AUDIT_EXPORT_FIELDS = ("id", "created_at", "action", "actor", "source", "user_id", "detail")


class StaffAudited:
    """Every add, change and delete a staff member makes through this admin goes into the audit log. Hooked on the
    admin's own change log, which every path writes: the form with its inlines, list edits, bulk deletes, and the
    auth app's password form."""

    def log_addition(self, request, obj, message):
        _staff_change(request, obj, "add", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        _staff_change(request, obj, "change", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            _staff_change(request, obj, "delete", [])
        return super().log_deletions(request, queryset)


def _staff_change(request, obj, operation: str, message) -> None:
    audit.record(audit.Action.STAFF_CHANGE, actor=audit.staff(request), source=audit.request_source(request),
                 user=_wallet_of(obj), model=obj._meta.label, object=obj.pk, operation=operation,
                 fields=_changed_fields(message))


def _changed_fields(message) -> str:
    """The admin's change message ([{"changed": {"name": inline, "fields": [...]}}, ...]) as one line of names,
    never values: "changed Is frozen; changed user settings Max trade size lamports"."""
    if isinstance(message, str):
        return message[:200]
    parts = []
    for entry in message or []:
        for kind, what in entry.items():
            inline = f"{what['name']} " if what.get("name") else ""
            parts.append(f"{kind} {inline}{','.join(what.get('fields', []))}".strip())
    return "; ".join(parts)


def _wallet_of(obj):
    from wallets.models import UserWallet

    if isinstance(obj, UserWallet):
        return obj
    return getattr(obj, "user_id", None)


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "action", "actor", "source", "user", "detail")
    list_filter = ("action", "created_at")
    search_fields = ("actor", "source", "=user__telegram_user_id", "=user__public_key")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    actions = ["export_csv", "export_json"]

    @admin.action(description="Export selected events as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response("audit-log.csv", AUDIT_EXPORT_FIELDS, queryset.order_by("pk"))

    @admin.action(description="Export selected events as JSON", permissions=["view"])
    def export_json(self, request, queryset):
        rows = [event_as_dict(event) for event in queryset.order_by("pk")]
        response = HttpResponse(json.dumps(rows, indent=1), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="audit-log.json"'
        return response


def event_as_dict(event: AuditEvent) -> dict:
    return {"id": event.pk, "created_at": event.created_at.isoformat(), "action": event.action,
            "actor": event.actor, "source": event.source, "user_id": event.user_id, "detail": event.detail}


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    list_display = ("action", "scope", "reason", "created_by", "created_at")
    list_filter = ("action",)
    fields = ("action", "user", "reason")
    raw_id_fields = ("user",)

    @admin.display(description="For")
    def scope(self, obj):
        return str(obj.user) if obj.user_id else "everyone"

    def has_change_permission(self, request, obj=None):
        return False  # a switch is on (a row) or off (no row): add or delete it

    def save_model(self, request, obj, form, change):
        obj.created_by = audit.staff(request)
        super().save_model(request, obj, form, change)
        audit.record(audit.Action.KILL_SWITCH_ON, actor=audit.staff(request), source=audit.request_source(request),
                     user=obj.user_id, switch=obj.action, scope="user" if obj.user_id else "global",
                     reason=obj.reason)

    def delete_model(self, request, obj):
        self._audit_off(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        self._audit_off(request, list(queryset))
        super().delete_queryset(request, queryset)

    def _audit_off(self, request, switches):
        for switch in switches:
            audit.record(audit.Action.KILL_SWITCH_OFF, actor=audit.staff(request),
                         source=audit.request_source(request), user=switch.user_id, switch=switch.action,
                         scope="user" if switch.user_id else "global")


WITHDRAWAL_FIELDS = ("user", "status", "destination", "lamports", "fee_lamports", "execute_after", "held_at",
                     "held_by", "cancelled_by", "signature", "error", "created_at", "resolved_at")


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "status", "lamports", "destination", "execute_after", "held_at")
    list_filter = ("status", ("held_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("=user__telegram_user_id", "=destination", "=signature")
    fields = WITHDRAWAL_FIELDS
    readonly_fields = WITHDRAWAL_FIELDS
    list_select_related = ("user",)
    actions = ["hold", "release", "cancel"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is append-only

    @admin.action(description="Hold selected delayed withdrawals (not sent until released)", permissions=["change"])
    def hold(self, request, queryset):
        self._each(request, queryset, lambda pk: hold_withdrawal(pk, hold=True, actor=audit.staff(request),
                                                                 source=audit.request_source(request)), "Held")

    @admin.action(description="Release selected held withdrawals", permissions=["change"])
    def release(self, request, queryset):
        self._each(request, queryset, lambda pk: hold_withdrawal(pk, hold=False, actor=audit.staff(request),
                                                                 source=audit.request_source(request)), "Released")

    @admin.action(description="Cancel selected delayed withdrawals (nothing is sent)", permissions=["change"])
    def cancel(self, request, queryset):
        self._each(request, queryset, lambda pk: cancel_withdrawal(pk, actor=audit.staff(request),
                                                                   source=audit.request_source(request)), "Cancelled")

    def _each(self, request, queryset, act, verb):
        done = sum(1 for pk in queryset.values_list("pk", flat=True) if act(pk))
        skipped = queryset.count() - done
        level = messages.SUCCESS if done else messages.WARNING
        note = f" ({skipped} skipped: only delayed withdrawals not yet sent can be changed)" if skipped else ""
        self.message_user(request, f"{verb} {done} withdrawal(s){note}.", level)


@admin.register(SecondFactor)
class SecondFactorAdmin(admin.ModelAdmin):
    list_display = ("user", "confirmed_at", "failed_attempts", "locked_until")
    fields = ("user", "confirmed_at", "failed_attempts", "locked_until", "created_at")
    readonly_fields = fields
    search_fields = ("=user__telegram_user_id", "user__telegram_username")
    actions = ["turn_off"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Turn off two-step verification (only after verifying the user's identity)",
                  permissions=["view"])
    def turn_off(self, request, queryset):
        if not request.user.has_perm("custody.delete_secondfactor") and not request.user.is_superuser:
            self.message_user(request, "You need the permission to delete second factors.", messages.ERROR)
            return
        for factor in queryset.select_related("user"):
            factor_user = factor.user
            SecondFactor.objects.filter(pk=factor.pk).delete()
            audit.record(audit.Action.TOTP_DISABLED, actor=audit.staff(request),
                         source=audit.request_source(request), user=factor_user)
        self.message_user(request, "Two-step verification turned off for the selected users.", messages.SUCCESS)


@admin.register(AllowedAddress)
class AllowedAddressAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "address", "label", "created_at", "active_from")
    search_fields = ("=user__telegram_user_id", "=address")


@admin.register(WithdrawalPolicy)
class WithdrawalPolicyAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "allowlist_enabled", "allowlist_off_at", "large_threshold_lamports",
                    "pending_threshold_lamports", "pending_threshold_at")


# Who can log in to this back office, and with which permissions, is itself a staff action worth a row.
User = get_user_model()
for _model, _admin_class in ((User, UserAdmin), (Group, GroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(f"Audited{_admin_class.__name__}", (StaffAudited, _admin_class), {}))
