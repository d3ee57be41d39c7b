"""Staff pages for wallets and settings. The sealed secret is never a field, column, filter or export here."""

from __future__ import annotations

from django.contrib import admin, messages

from custody import audit
from custody.admin import StaffAudited
from tradingbot.exports import csv_response
from wallets.models import UserSettings, UserWallet
from wallets.services import set_frozen

WALLET_FIELDS = ("telegram_user_id", "telegram_username", "public_key", "key_fingerprint", "is_frozen",
                 "created_at", "updated_at")


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
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

    def has_delete_permission(self, request, obj=None):
        return False  # a custodial wallet may hold funds; freeze it instead

    @admin.action(description="Freeze trading for selected users", permissions=["change"])
    def freeze_trading(self, request, queryset):
        self._set_frozen(request, queryset, frozen=True)

    @admin.action(description="Unfreeze trading for selected users", permissions=["change"])
    def unfreeze_trading(self, request, queryset):
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
class UserSettingsAdmin(StaffAudited, admin.ModelAdmin):
    list_display = ("user", "max_trade_size_lamports", "daily_loss_limit_lamports", "slippage_bps",
                    "stop_loss_percentage", "take_profit_percentage", "snipe_enabled", "confirm_trades")
    list_filter = ("snipe_enabled", "confirm_trades")
    search_fields = ("=user__telegram_user_id", "user__telegram_username", "=user__public_key")
    readonly_fields = ("user", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
