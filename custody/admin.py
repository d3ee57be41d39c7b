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
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody import audit, second_factor
from custody.models import AllowedAddress, AuditEvent, KillSwitch, SecondFactor, WithdrawalPolicy
from kernel.exports import csv_response
from wallets.models import Withdrawal
from wallets.withdrawals import cancel_withdrawal, hold_withdrawal

AUDIT_EXPORT_FIELDS = ("id", "created_at", "action", "actor", "source", "user_id", "detail")


class StaffAudited:
    """Every add, change and delete a staff member makes through this admin goes into the audit log. Hooked on the
    admin's own change log, which every path writes: the form with its inlines, list edits, bulk deletes, and the
    auth app's password form. A change names each field with its value before and after, except secrets."""

    def construct_change_message(self, request, form, formsets, add=False):
        # Called by every form path just before log_addition / log_change, with the forms still holding both the
        # values they started from and the cleaned ones: the only moment both are known.
        request._staff_changes = _form_changes(form, formsets)
        return super().construct_change_message(request, form, formsets, add)

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
    changes = request.__dict__.pop("_staff_changes", None) if operation != "delete" else None
    detail = {"changes": changes} if changes else {}
    audit.record(audit.Action.STAFF_CHANGE, actor=audit.staff(request), source=audit.request_source(request),
                 user=_wallet_of(obj), model=obj._meta.label, object=obj.pk, operation=operation,
                 fields=_changed_fields(message), **detail)


# A field whose name has one of these is never written with its value: the row says "withheld" instead.
SECRET_NAME_PARTS = ("secret", "password", "key", "token", "otp")


def _form_changes(form, formsets) -> dict:
    """{"field": {"before": ..., "after": ...}} for the main form, {"inline.field": ...} for inline rows."""
    changes = _changes_of(form, prefix="")
    for formset in formsets or []:
        for inline_form in formset.forms:
            if inline_form in getattr(formset, "deleted_forms", []):
                continue
            changes.update(_changes_of(inline_form, prefix=f"{formset.prefix}."))
    return changes


def _changes_of(form, *, prefix: str) -> dict:
    changes = {}
    for name in form.changed_data:
        if any(part in name.lower() for part in SECRET_NAME_PARTS):
            changes[prefix + name] = "withheld"
            continue
        changes[prefix + name] = {"before": _value(form.initial.get(name)),
                                  "after": _value(form.cleaned_data.get(name))}
    return changes


def _value(value):
    """A form value as a small plain value: related objects by primary key, many-to-many as sorted keys."""
    if hasattr(value, "all") and callable(value.all):
        value = list(value.all())
    if isinstance(value, list | tuple | set):
        return sorted((_value(item) for item in value), key=str)
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return value.pk
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _changed_fields(message) -> str:
    """The admin's change message ([{"changed": {"name": inline, "fields": [...]}}, ...]) as one line of names:
    "changed Is frozen; changed user settings Max trade size lamports"."""
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
    list_display = ("user", "confirmed_at", "failed_attempts", "locked_until", "reset_after", "reset_requested_by")
    list_filter = (("reset_after", admin.EmptyFieldListFilter),)
    fields = ("user", "confirmed_at", "failed_attempts", "locked_until", "created_at", "reset_requested_at",
              "reset_requested_by", "reset_after")
    readonly_fields = fields
    search_fields = ("=user__telegram_user_id", "user__telegram_username")
    actions = ["request_reset", "cancel_reset"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Reset two-step verification in 24 hours (only after verifying the user's identity; "
                              "the user is told at once)", permissions=["view"])
    def request_reset(self, request, queryset):
        if not request.user.has_perm("custody.delete_secondfactor") and not request.user.is_superuser:
            self.message_user(request, "You need the permission to delete second factors.", messages.ERROR)
            return
        now = timezone.now()
        scheduled = [when for pk in queryset.values_list("pk", flat=True)
                     if (when := second_factor.request_staff_reset(pk, actor=audit.staff(request),
                                                                    source=audit.request_source(request), now=now))]
        skipped = queryset.count() - len(scheduled)
        note = f" {skipped} already had a reset pending (its time stands)." if skipped else ""
        if scheduled:
            self.message_user(request, f"Reset scheduled for {len(scheduled)} user(s): two-step verification turns "
                                       f"off at {scheduled[0]:%Y-%m-%d %H:%M} UTC unless a superuser cancels it. "
                                       f"The bot tells the user in Telegram now.{note}", messages.SUCCESS)
        else:
            self.message_user(request, f"Nothing scheduled.{note}", messages.WARNING)

    @admin.action(description="Cancel the pending two-step verification reset (superusers)", permissions=["view"])
    def cancel_reset(self, request, queryset):
        if not request.user.is_superuser:
            self.message_user(request, "Only a superuser can cancel a pending reset.", messages.ERROR)
            return
        done = sum(1 for pk in queryset.values_list("pk", flat=True)
                   if second_factor.cancel_staff_reset(pk, actor=audit.staff(request),
                                                       source=audit.request_source(request)))
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"Cancelled {done} pending reset(s); two-step verification stays on.", level)


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


# Staff authenticators (django-otp): names and use only. Their keys are never a field here, and nobody adds or edits
# one in the admin (that would let a staff account give itself, or another, a second factor): operators enrol them
# with manage.py staff_otp.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class StaffAuthenticatorAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    fields = list_display
    readonly_fields = list_display
