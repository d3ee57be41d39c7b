"""Staff pages for positions and the ledger. The ledger is append-only: nothing here edits or deletes a trade."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from custody import audit
from custody.admin.staff import ReadOnly
from kernel.exports import csv_response
from positions.errors import TradingError
from positions.models import Order, OrderFiring, Position, Snipe, SnipeLaunch, Trade
from positions.order_services import cancel_order

TRADE_EXPORT_FIELDS = ("id", "created_at", "resolved_at", "side", "status", "token_mint", "signature", "lamports_in",
                       "amount_in_raw", "amount_out_raw", "lamports_out", "fee_lamports", "rent_paid_lamports",
                       "rent_returned_lamports", "realized_pnl_lamports", "error")


class TradeInline(ReadOnly, admin.TabularInline):
    model = Trade
    extra = 0
    fields = ("created_at", "side", "status", "lamports_in", "amount_in_raw", "amount_out_raw", "lamports_out",
              "fee_lamports", "signature")
    readonly_fields = fields
    ordering = ("created_at",)
    show_change_link = True


@admin.register(Position)
class PositionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "token_mint", "remaining_amount_raw", "remaining_cost_lamports",
                    "realized_pnl_lamports", "is_open", "opened_at", "closed_at")
    list_filter = ("is_open", "opened_at")
    search_fields = ("=token_mint", "=user__telegram_user_id", "user__telegram_username", "=user__public_key")
    list_select_related = ("user",)
    inlines = [TradeInline]


@admin.register(Trade)
class TradeAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "user", "side", "status", "token_mint", "lamports_in", "lamports_out",
                    "realized_pnl_lamports", "signature")
    list_filter = ("status", "side", "created_at")
    search_fields = ("=signature", "=token_mint", "=user__telegram_user_id", "user__telegram_username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = ["export_csv"]

    @admin.action(description="Export selected trades as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response("trades.csv", TRADE_EXPORT_FIELDS, queryset.order_by("pk"))


@admin.register(Snipe)
class SnipeAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("detected_at", "user", "token_mint", "status", "reason", "lamports", "trade_signature")
    list_filter = ("status", "detected_at")
    search_fields = ("=token_mint", "=user__telegram_user_id", "user__telegram_username")
    list_select_related = ("user",)


@admin.register(SnipeLaunch)
class SnipeLaunchAdmin(ReadOnly, admin.ModelAdmin):
    """New tokens skipped for every sniper at once (failed screening, thin pool, sniping paused for everyone); the
    per-user attempts are under Snipes. Both are pruned after SNIPE_RETENTION_DAYS, bought snipes excepted."""

    list_display = ("detected_at", "token_mint", "reason", "users_affected", "lamports", "launch_signature")
    list_filter = ("detected_at",)
    search_fields = ("=token_mint", "=launch_signature", "reason")
    date_hierarchy = "detected_at"


class OrderFiringInline(ReadOnly, admin.TabularInline):
    model = OrderFiring
    extra = 0
    fields = ("seq", "outcome", "error", "created_at", "settled_at", "trade")
    readonly_fields = fields
    ordering = ("seq",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders and their firings, read-only; staff may cancel active ones (audited, and the trader sees it in
    /orders). An order trading right now cannot be called back."""

    list_display = ("created_at", "user", "kind", "status", "token_mint", "trigger_text", "lamports", "sell_amount",
                    "parts_done", "parts", "attempts", "failure_reason")
    list_filter = ("status", "kind", "created_at")
    search_fields = ("=token_mint", "=user__telegram_user_id", "user__telegram_username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Order._meta.fields]
    inlines = [OrderFiringInline]
    actions = ["cancel_orders"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The list's actions need it; an order's own page stays read-only.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Cancel selected active orders", permissions=["change"])
    def cancel_orders(self, request, queryset):
        cancelled = 0
        for order in queryset.select_related("user"):
            try:
                cancel_order(telegram_user_id=order.user.telegram_user_id, order_id=order.pk, now=timezone.now())
            except TradingError:
                continue  # not active any more (filled, firing, cancelled): nothing to call back
            cancelled += 1
            audit.record(audit.Action.STAFF_CHANGE, actor=audit.staff(request), source=audit.request_source(request),
                         user=order.user_id, model="positions.Order", order=order.pk, change="cancelled")
            self.log_change(request, order, [{"changed": {"fields": ["status"]}}])
        skipped = queryset.count() - cancelled
        self.message_user(request, f"Cancelled {cancelled} order(s)" + (f"; {skipped} were not active." if skipped
                                                                           else "."), messages.SUCCESS)
