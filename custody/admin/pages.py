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
from custody.admin.amounts import sol_column
from custody.admin.staff import ReadOnly, StaffAudited
from custody.models import AllowedAddress, AuditEvent, KillSwitch, SecondFactor, WithdrawalPolicy
from custody.withdrawals import cancel_withdrawal, hold_withdrawal
from kernel.exports import csv_response
from wallets.models import Withdrawal

AUDIT_EXPORT_FIELDS = ("id", "created_at", "action", "actor", "source", "user_id", "detail")


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


WITHDRAWAL_FIELDS = ("user", "status", "destination", "amount_sol", "fee_sol", "execute_after", "held_at",
                     "held_by", "cancelled_by", "signature", "error", "created_at", "resolved_at")


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "status", "amount_sol", "destination", "execute_after", "held_at")
    amount_sol = sol_column("lamports", "Amount (SOL)")
    fee_sol = sol_column("fee_lamports", "Network fee (SOL)")
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
    list_display = ("user", "allowlist_enabled", "allowlist_off_at", "large_threshold_sol", "pending_threshold_sol",
                    "pending_threshold_at")
    large_threshold_sol = sol_column("large_threshold_lamports", "Delay withdrawals above (SOL)")
    pending_threshold_sol = sol_column("pending_threshold_lamports", "New threshold (SOL)")


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
