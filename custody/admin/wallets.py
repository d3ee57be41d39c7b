"""Staff pages for wallets and settings. The sealed secret is never a field, column, filter or export here.

Risk settings (everything that decides how much value can leave and how) are read-only for staff: only a
superuser may change them, and never above the operator's maxima (wallets/limits.py)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from custody import audit
from custody.admin.amounts import PercentField, Shown, SolField, in_sol, percent_column, sol_column
from custody.admin.staff import StaffAudited
from custody.services import set_frozen
from kernel.config import get_config
from kernel.exports import csv_response
from wallets.limits import over_ceiling
from wallets.models import UserSettings, UserWallet

RISK_FIELDS = ("max_trade_size_lamports", "daily_loss_limit_lamports", "slippage_bps", "stop_loss_percentage",
               "take_profit_percentage", "snipe_enabled", "snipe_amount_lamports", "priority_fee_lamports",
               "confirm_trades")
ONLY_SUPERUSERS = "Only a superuser can change a user's risk settings; nothing was changed."


class UserSettingsForm(forms.ModelForm):
    """SOL and percent on the page, lamports and basis points in the row."""

    max_trade_size_lamports = SolField(label="Max trade size (SOL)")
    daily_loss_limit_lamports = SolField(label="Daily loss limit (SOL)", allow_zero=True)
    slippage_bps = PercentField(label="Slippage (%)")
    snipe_amount_lamports = SolField(label="Snipe amount (SOL)", allow_zero=True)
    priority_fee_lamports = SolField(label="Priority fee (SOL)", allow_zero=True,
                                     help_text="In SOL, like 0.0001: the fee at the fixed level, the most any level "
                                               "may pay otherwise.")

    class Meta:
        model = UserSettings
        fields = RISK_FIELDS
        labels = {"stop_loss_percentage": "Stop loss (%)", "take_profit_percentage": "Take profit (%)"}

    def clean(self):
        cleaned = super().clean()
        for field, problem in over_ceiling(cleaned, get_config()).items():
            self.add_error(field, problem)
        return cleaned


class SettingsColumns:
    """The risk settings as staff read them (SOL, percent), for lists, exports and read-only pages."""

    max_trade_size_sol = sol_column("max_trade_size_lamports", "Max trade size (SOL)")
    daily_loss_limit_sol = sol_column("daily_loss_limit_lamports", "Daily loss limit (SOL)")
    slippage_percent = percent_column("slippage_bps", "Slippage (%)", bps=True)
    stop_loss_percent = percent_column("stop_loss_percentage", "Stop loss (%)")
    take_profit_percent = percent_column("take_profit_percentage", "Take profit (%)")
    snipe_amount_sol = sol_column("snipe_amount_lamports", "Snipe amount (SOL)")
    priority_fee_sol = sol_column("priority_fee_lamports", "Priority fee (SOL)")
    jito_tip_sol = sol_column("jito_tip_lamports", "MEV tip (SOL)")

    @admin.display(description="Auto-buy on paste (SOL)")
    def auto_buy_sol(self, settings: UserSettings) -> str:
        return in_sol(settings.auto_buy_lamports) or "off"


# The trader's own trading options: shown to staff, changed only by the trader (turning some on is a loosening that
# the trader's own safety delay governs).
TRADER_OPTIONS = ("priority_fee_level", "mev_protection", "jito_tip_sol", "auto_buy_sol", "paper_mode")


# Each stored column and the column staff read in its place.
SHOWN_AS = {"max_trade_size_lamports": "max_trade_size_sol", "daily_loss_limit_lamports": "daily_loss_limit_sol",
            "slippage_bps": "slippage_percent", "stop_loss_percentage": "stop_loss_percent",
            "take_profit_percentage": "take_profit_percent", "snipe_amount_lamports": "snipe_amount_sol",
            "priority_fee_lamports": "priority_fee_sol"}


class RiskSettingsLock(SettingsColumns):
    """Settings pages and inlines: viewable by staff, changeable by superusers alone. Read-only, they show SOL and
    percent; editable, the form does (UserSettingsForm)."""

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if self.has_change_permission(request, obj):
            return fields
        return [SHOWN_AS.get(name, name) for name in fields]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if self.has_change_permission(request, obj):
            return readonly
        return (*readonly, *SHOWN_AS.values())


def refuse_risk_edit(request, wallet_id) -> None:
    """A staff member who is not a superuser posted a settings value (the page shows them read-only, so this is a
    forged form): write it down and refuse the whole request."""
    posted = sorted({key.rsplit("-", 1)[-1] for key in request.POST if key.rsplit("-", 1)[-1] in RISK_FIELDS})
    audit.record(audit.Action.STAFF_CHANGE_REFUSED, actor=audit.staff(request), source=audit.request_source(request),
                 user=wallet_id, model="wallets.UserSettings", fields=",".join(posted),
                 reason="risk settings are for superusers only")
    raise PermissionDenied(ONLY_SUPERUSERS)


def _as_id(object_id) -> int | None:
    return int(object_id) if object_id and str(object_id).isdigit() else None


def _posts_risk_fields(request) -> bool:
    return request.method == "POST" and any(key.rsplit("-", 1)[-1] in RISK_FIELDS for key in request.POST)

WALLET_FIELDS = ("telegram_user_id", "telegram_username", "public_key", "key_fingerprint", "is_frozen",
                 "created_at", "updated_at")


class UserSettingsInline(RiskSettingsLock, admin.StackedInline):
    model = UserSettings
    form = UserSettingsForm
    can_delete = False
    extra = 0


@admin.register(UserWallet)
class UserWalletAdmin(StaffAudited, admin.ModelAdmin):
    fields = WALLET_FIELDS
    readonly_fields = ("telegram_user_id", "public_key", "key_fingerprint", "created_at", "updated_at")
    list_display = ("telegram_user_id", "telegram_username", "public_key", "is_frozen", "created_at")
    list_filter = ("is_frozen", "created_at")
    search_fields = ("=telegram_user_id", "telegram_username", "=public_key")
    inlines = [UserSettingsInline]
    actions = ["freeze_trading", "unfreeze_trading", "export_csv"]

    def has_add_permission(self, request):
        return False  # wallets are created by the bot, with a keypair only it generates

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return self.readonly_fields
        return (*self.readonly_fields, "is_frozen")  # staff freeze with the action; unfreezing is for superusers

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if _posts_risk_fields(request) and not request.user.is_superuser:
            refuse_risk_edit(request, _as_id(object_id))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False  # a custodial wallet may hold funds; freeze it instead

    @admin.action(description="Freeze trading for selected users", permissions=["change"])
    def freeze_trading(self, request, queryset):
        self._set_frozen(request, queryset, frozen=True)

    @admin.action(description="Unfreeze trading for selected users (superusers)", permissions=["change"])
    def unfreeze_trading(self, request, queryset):
        if not request.user.is_superuser:  # freezing protects; unfreezing lets value leave again
            for wallet_id in queryset.values_list("pk", flat=True):
                audit.record(audit.Action.STAFF_CHANGE_REFUSED, actor=audit.staff(request),
                             source=audit.request_source(request), user=wallet_id, model="wallets.UserWallet",
                             fields="is_frozen", reason="unfreezing is for superusers only")
            self.message_user(request, "Only a superuser can unfreeze trading; nothing was changed.", messages.ERROR)
            return
        self._set_frozen(request, queryset, frozen=False)

    @admin.action(description="Export selected wallets as CSV (public data only)", permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response("wallets.csv", WALLET_FIELDS, queryset.order_by("pk"))

    def _set_frozen(self, request, queryset, *, frozen: bool) -> None:
        wallets = list(queryset)
        changed = set_frozen(wallets=queryset, frozen=frozen, actor=audit.staff(request),
                             source=audit.request_source(request))
        verb = "Froze" if frozen else "Unfroze"
        for wallet in wallets:
            self.log_change(request, wallet, [{"changed": {"fields": ["is_frozen"]}}])
        self.message_user(request, f"{verb} trading for {changed} user(s).", messages.SUCCESS)


@admin.register(UserSettings)
class UserSettingsAdmin(StaffAudited, RiskSettingsLock, admin.ModelAdmin):
    form = UserSettingsForm
    fields = ("user", *RISK_FIELDS, *TRADER_OPTIONS, "updated_at")
    list_display = ("user", "max_trade_size_sol", "daily_loss_limit_sol", "slippage_percent", "stop_loss_percent",
                    "take_profit_percent", "snipe_enabled", "confirm_trades", "mev_protection", "auto_buy_sol",
                    "paper_mode")
    list_filter = ("snipe_enabled", "confirm_trades", "paper_mode")
    search_fields = ("=user__telegram_user_id", "user__telegram_username", "=user__public_key")
    readonly_fields = ("user", *TRADER_OPTIONS, "updated_at")
    actions = ["export_csv"]

    @admin.action(description="Export selected settings as CSV (SOL and percent)", permissions=["view"])
    def export_csv(self, request, queryset):
        columns = ("telegram_user_id", *SHOWN_AS.values(), "snipe_enabled", "confirm_trades", *TRADER_OPTIONS)
        rows = (Shown(self, settings) for settings in queryset.select_related("user").order_by("pk"))
        return csv_response("user-settings.csv", columns, rows)

    @admin.display(description="Telegram user id")
    def telegram_user_id(self, settings: UserSettings) -> int:
        return settings.user.telegram_user_id

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not request.user.is_superuser:
            refuse_risk_edit(request, UserSettings.objects.filter(pk=_as_id(object_id)).values_list(
                "user_id", flat=True).first())
        return super().changeform_view(request, object_id, form_url, extra_context)
