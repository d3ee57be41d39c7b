"""Staff pages for positions and the ledger. The ledger is append-only: nothing here edits or deletes a trade."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from custody import audit, notices
from custody.admin.amounts import Shown, sol_column
from custody.admin.staff import ReadOnly
from kernel.display import plain
from kernel.exports import csv_response
from positions.errors import TradingError
from positions.models import THRESHOLD_OFF, Order, OrderFiring, PaperAccount, Position, Snipe, SnipeLaunch, Trade
from positions.order_services import cancel_order

# Amounts of SOL in SOL (exact decimals: the integers stay in the database), tokens in raw units.
TRADE_EXPORT_FIELDS = ("id", "created_at", "resolved_at", "book", "side", "status", "token_mint", "signature", "sol_in",
                       "amount_in_raw", "amount_out_raw", "sol_out", "fee_sol", "tip_sol", "rent_paid_sol",
                       "rent_returned_sol",
                       "realized_pnl_sol", "error")


class BookFilter(admin.SimpleListFilter):
    """Real money or paper: paper rows were never signed or sent and hold nothing on chain."""

    title = "book"
    parameter_name = "book"

    def lookups(self, request, model_admin):
        return (("real", "Real"), ("paper", "Paper"))

    def queryset(self, request, queryset):
        if self.value() in ("real", "paper"):
            return queryset.filter(paper=self.value() == "paper")
        return queryset


class BookColumn:
    @admin.display(description="Book", ordering="paper")
    def book(self, row) -> str:
        return "paper" if row.paper else "real"


class TradeInline(ReadOnly, admin.TabularInline):
    model = Trade
    extra = 0
    fields = ("created_at", "side", "status", "sol_in", "amount_in_raw", "amount_out_raw", "sol_out", "fee_sol",
              "signature")
    readonly_fields = fields
    sol_in = sol_column("lamports_in", "SOL in")
    sol_out = sol_column("lamports_out", "SOL out")
    fee_sol = sol_column("fee_lamports", "Network fee (SOL)")
    ordering = ("created_at",)
    show_change_link = True


@admin.register(Position)
class PositionAdmin(BookColumn, ReadOnly, admin.ModelAdmin):
    list_display = ("user", "book", "token_mint", "remaining_amount_raw", "remaining_cost_sol", "realized_pnl_sol",
                    "is_open", "opened_at", "closed_at")
    fields = ("user", "book", "token_mint", "token_decimals", "entry_amount_raw", "entry_cost_sol",
              "remaining_amount_raw", "remaining_cost_sol", "reserved_raw", "realized_amount_sol", "realized_pnl_sol",
              "stop_loss", "take_profit", "is_open", "opened_at", "closed_at")
    readonly_fields = fields
    entry_cost_sol = sol_column("entry_cost_lamports", "Entry cost (SOL)")
    remaining_cost_sol = sol_column("remaining_cost_lamports", "Remaining cost (SOL)")
    realized_amount_sol = sol_column("realized_amount_lamports", "Received from sells (SOL)")
    realized_pnl_sol = sol_column("realized_pnl_lamports", "Realized PnL (SOL)")

    @admin.display(description="Stop loss (%)")
    def stop_loss(self, position: Position) -> str:
        return _threshold(position.stop_loss_percentage)

    @admin.display(description="Take profit (%)")
    def take_profit(self, position: Position) -> str:
        return _threshold(position.take_profit_percentage)
    list_filter = (BookFilter, "is_open", "opened_at")
    search_fields = ("=token_mint", "=user__telegram_user_id", "user__telegram_username", "=user__public_key")
    list_select_related = ("user",)
    inlines = [TradeInline]


@admin.register(Trade)
class TradeAdmin(BookColumn, ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "user", "book", "side", "status", "token_mint", "sol_in", "sol_out",
                    "realized_pnl_sol", "signature")
    fields = ("user", "book", "position", "token_mint", "token_decimals", "side", "status", "signature", "sol_in",
              "amount_in_raw", "quoted_out", "min_out", "amount_out_raw", "sol_out", "fee_sol", "tip_sol", "sol_change",
              "rent_paid_sol", "rent_returned_sol", "cost_basis_sol", "realized_pnl_sol", "last_valid_block_height",
              "error", "created_at", "resolved_at")
    readonly_fields = fields
    sol_in = sol_column("lamports_in", "SOL in")
    sol_out = sol_column("lamports_out", "SOL out")
    fee_sol = sol_column("fee_lamports", "Network fee (SOL)")
    tip_sol = sol_column("tip_lamports", "Block engine tip (SOL)")
    sol_change = sol_column("sol_change_lamports", "Wallet's SOL change (SOL)")
    rent_paid_sol = sol_column("rent_paid_lamports", "Token account rent paid (SOL)")
    rent_returned_sol = sol_column("rent_returned_lamports", "Token account rent returned (SOL)")
    cost_basis_sol = sol_column("cost_basis_lamports", "Cost basis of the part sold (SOL)")
    realized_pnl_sol = sol_column("realized_pnl_lamports", "Realized PnL (SOL)")
    list_filter = (BookFilter, "status", "side", "created_at")
    search_fields = ("=signature", "=token_mint", "=user__telegram_user_id", "user__telegram_username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = ["export_csv"]

    @admin.action(description="Export selected trades as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        rows = (Shown(self, trade) for trade in queryset.order_by("pk"))
        return csv_response("trades.csv", TRADE_EXPORT_FIELDS, rows)


@admin.register(Snipe)
class SnipeAdmin(BookColumn, ReadOnly, admin.ModelAdmin):
    list_display = ("detected_at", "user", "book", "token_mint", "status", "reason", "amount_sol", "trade_signature")
    amount_sol = sol_column("lamports", "Amount (SOL)")
    list_filter = (BookFilter, "status", "detected_at")
    search_fields = ("=token_mint", "=user__telegram_user_id", "user__telegram_username")
    list_select_related = ("user",)


@admin.register(SnipeLaunch)
class SnipeLaunchAdmin(ReadOnly, admin.ModelAdmin):
    """New tokens skipped for every sniper at once (failed screening, thin pool, sniping paused for everyone); the
    per-user attempts are under Snipes. Both are pruned after SNIPE_RETENTION_DAYS, bought snipes excepted."""

    list_display = ("detected_at", "token_mint", "reason", "users_affected", "amount_sol", "launch_signature")
    amount_sol = sol_column("lamports", "Would have spent (SOL)")
    list_filter = ("detected_at",)
    search_fields = ("=token_mint", "=launch_signature", "reason")
    date_hierarchy = "detected_at"


def _threshold(value) -> str:
    """A position's own stop loss or take profit: empty follows the user's setting, 0 is off for this position."""
    if value is None:
        return "the user's setting"
    return "off" if value == THRESHOLD_OFF else plain(value)


class OrderFiringInline(ReadOnly, admin.TabularInline):
    model = OrderFiring
    extra = 0
    fields = ("seq", "outcome", "error", "created_at", "settled_at", "trade")
    readonly_fields = fields
    ordering = ("seq",)


@admin.register(Order)
class OrderAdmin(BookColumn, admin.ModelAdmin):
    """Orders and their firings, read-only; staff may cancel active ones (audited, and the trader sees it in
    /orders). An order trading right now cannot be called back."""

    list_display = ("created_at", "user", "book", "kind", "status", "token_mint", "trigger_text", "lamports",
                    "sell_amount", "parts_done", "parts", "attempts", "failure_reason")
    list_filter = (BookFilter, "status", "kind", "created_at")
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
            notices.queue_notice(wallet=order.user, kind=notices.Kind.ORDER_CANCELLED, order=order.pk,
                                 what=order.get_kind_display(), mint=order.token_mint, trigger=order.trigger_text)
            self.log_change(request, order, [{"changed": {"fields": ["status"]}}])
        skipped = queryset.count() - cancelled
        self.message_user(request, f"Cancelled {cancelled} order(s)" + (f"; {skipped} were not active." if skipped
                                                                           else "."), messages.SUCCESS)


@admin.register(PaperAccount)
class PaperAccountAdmin(ReadOnly, admin.ModelAdmin):
    """Each trader's paper book: virtual SOL only, moved by paper trades alone (never by staff)."""

    list_display = ("user", "balance_sol", "start_sol", "started_at")
    fields = list_display
    readonly_fields = fields
    balance_sol = sol_column("balance_lamports", "Paper balance (SOL)")
    start_sol = sol_column("start_lamports", "Started with (SOL)")
    search_fields = ("=user__telegram_user_id", "user__telegram_username", "=user__public_key")
    list_select_related = ("user",)
