"""What every staff page shares: each add, change and delete a staff member makes is written to the audit log,
and read-only pages stay read-only."""

from __future__ import annotations

from custody import audit
from wallets.models import UserWallet


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
    "changed Is frozen; changed user settings Max trade size (SOL)"."""
    if isinstance(message, str):
        return message[:200]
    parts = []
    for entry in message or []:
        for kind, what in entry.items():
            inline = f"{what['name']} " if what.get("name") else ""
            parts.append(f"{kind} {inline}{','.join(what.get('fields', []))}".strip())
    return "; ".join(parts)


def _wallet_of(obj):
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


