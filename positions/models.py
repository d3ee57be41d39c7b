"""Positions and the append-only trade ledger. Lamports and raw token units are integers; nothing is a float."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from kernel.fields import U64Field, u64_range_constraints
from kernel.money import lamports_to_sol, raw_to_tokens
from wallets.models import UserWallet

THRESHOLD_OFF = Decimal(0)  # a position's stop loss or take profit of 0: none on this position, whatever the default


def own_or_default(own: Decimal | None, default: Decimal | None) -> Decimal | None:
    """The threshold in force on a position: its own (0 meaning off), else the user's setting."""
    if own is None:
        return default
    return None if own == THRESHOLD_OFF else own


class Position(models.Model):
    user = models.ForeignKey(UserWallet, on_delete=models.PROTECT, related_name="positions")
    token_mint = models.CharField(max_length=44)
    token_decimals = models.PositiveSmallIntegerField()
    entry_amount_raw = U64Field(default=0, help_text="Raw token units bought in total.")
    entry_cost_lamports = models.BigIntegerField(default=0, help_text="Lamports spent on buys in total.")
    remaining_amount_raw = U64Field(default=0)
    remaining_cost_lamports = models.BigIntegerField(default=0, help_text="Cost basis of what is still held.")
    reserved_raw = U64Field(default=0, help_text="Raw units set aside by sells in flight.")
    realized_amount_lamports = models.BigIntegerField(default=0, help_text="Lamports received from sells.")
    realized_pnl_lamports = models.BigIntegerField(default=0)
    # Each overrides the user's setting for this position: empty follows it, 0 (THRESHOLD_OFF) turns it off here.
    stop_loss_percentage = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True,
                                               help_text="Overrides the user's setting for this position (empty: "
                                                         "the user's; 0: off for this position).")
    take_profit_percentage = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                                 help_text="Overrides the user's setting for this position (empty: "
                                                           "the user's; 0: off for this position).")
    is_open = models.BooleanField(default=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "positions"
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "token_mint"], condition=Q(is_open=True),
                                    name="one_open_position_per_user_and_mint"),
            models.CheckConstraint(condition=Q(entry_cost_lamports__gte=0), name="position_entry_cost_non_negative"),
            models.CheckConstraint(condition=Q(remaining_cost_lamports__gte=0),
                                   name="position_remaining_cost_non_negative"),
            models.CheckConstraint(condition=Q(realized_amount_lamports__gte=0),
                                   name="position_realized_amount_non_negative"),
            models.CheckConstraint(condition=Q(remaining_amount_raw__lte=F("entry_amount_raw")),
                                   name="position_remaining_within_entry"),
            models.CheckConstraint(condition=Q(reserved_raw__lte=F("remaining_amount_raw")),
                                   name="position_reserved_within_remaining"),
            models.CheckConstraint(condition=Q(is_open=True) | Q(closed_at__isnull=False),
                                   name="position_closed_has_closed_at"),
            models.CheckConstraint(condition=Q(stop_loss_percentage__isnull=True) | Q(stop_loss_percentage__gte=0),
                                   name="position_stop_loss_not_negative"),
            models.CheckConstraint(condition=Q(take_profit_percentage__isnull=True) |
                                   Q(take_profit_percentage__gte=0), name="position_take_profit_not_negative"),
            *u64_range_constraints("position", "entry_amount_raw", "remaining_amount_raw", "reserved_raw"),
        ]

    def __str__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"{self.token_mint[:6]}… of {self.user} ({state})"

    @property
    def remaining_amount_tokens(self):
        return raw_to_tokens(self.remaining_amount_raw, self.token_decimals)

    @property
    def remaining_cost_sol(self):
        return lamports_to_sol(self.remaining_cost_lamports)

    @property
    def realized_pnl_sol(self):
        return lamports_to_sol(self.realized_pnl_lamports)


class Trade(models.Model):
    """One swap, written as pending (with its signature) before it is sent; never deleted."""

    settled_now = False  # not stored: set by services.confirm_trade / fail_trade for the call that settled it

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(UserWallet, on_delete=models.PROTECT, related_name="trades")
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="trades", null=True, blank=True)
    token_mint = models.CharField(max_length=44)
    token_decimals = models.PositiveSmallIntegerField()
    side = models.CharField(max_length=4, choices=Side.choices)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING, db_index=True)
    signature = models.CharField(max_length=88, unique=True)
    # Buy: lamports in, tokens out. Sell: tokens in, lamports out. Quoted values are what Jupiter promised;
    # the others are read from the confirmed transaction.
    lamports_in = models.BigIntegerField(default=0)
    amount_in_raw = U64Field(default=0)
    quoted_out = U64Field(default=0, help_text="Quoted output (raw units or lamports).")
    min_out = U64Field(default=0, help_text="Least output the swap accepts (slippage).")
    amount_out_raw = U64Field(default=0)
    lamports_out = models.BigIntegerField(default=0)
    fee_lamports = models.BigIntegerField(default=0, help_text="Network fee paid, including priority fee.")
    tip_lamports = models.BigIntegerField(default=0, help_text="Tip paid to the block engine's tip accounts (MEV "
                                                               "protection), read from the landed transaction.")
    sol_change_lamports = models.BigIntegerField(default=0, help_text="Signed change of the wallet's SOL balance "
                                                                      "caused by this transaction (fees and rent "
                                                                      "included).")
    rent_paid_lamports = models.BigIntegerField(default=0, help_text="Rent that funded the token account this trade "
                                                                     "created (part of sol_change_lamports; a deposit "
                                                                     "returned when the account is closed).")
    rent_returned_lamports = models.BigIntegerField(default=0, help_text="Rent returned by closing the emptied token "
                                                                         "account on a full exit (part of "
                                                                         "sol_change_lamports).")
    cost_basis_lamports = models.BigIntegerField(default=0, help_text="Sell: cost basis of the part sold.")
    realized_pnl_lamports = models.BigIntegerField(default=0)
    last_valid_block_height = models.BigIntegerField()
    signed_transaction = models.BinaryField(null=True, blank=True, editable=False,
                                            help_text="The signed bytes as sent (public once sent, no secret): a "
                                                      "restarted bot resends them until the blockhash expires.")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "trades"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(lamports_in__gte=0), name="trade_lamports_in_non_negative"),
            models.CheckConstraint(condition=Q(lamports_out__gte=0), name="trade_lamports_out_non_negative"),
            models.CheckConstraint(condition=Q(fee_lamports__gte=0), name="trade_fee_non_negative"),
            models.CheckConstraint(condition=Q(tip_lamports__gte=0), name="trade_tip_non_negative"),
            models.CheckConstraint(condition=Q(cost_basis_lamports__gte=0), name="trade_cost_basis_non_negative"),
            models.CheckConstraint(condition=Q(rent_paid_lamports__gte=0), name="trade_rent_paid_non_negative"),
            models.CheckConstraint(condition=Q(rent_returned_lamports__gte=0),
                                   name="trade_rent_returned_non_negative"),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="trade_side_valid"),
            models.CheckConstraint(condition=Q(status__in=["pending", "confirmed", "failed"]),
                                   name="trade_status_valid"),
            *u64_range_constraints("trade", "amount_in_raw", "quoted_out", "min_out", "amount_out_raw"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.token_mint[:6]}… {self.status} ({self.signature[:8]}…)"


class SnipeLaunch(models.Model):
    """A new token skipped for every snipe-enabled user at once, for a reason of the token's own (it failed the
    screening, its pool is too thin) or because sniping was paused for everyone: one row for the launch, however many
    users it concerned, instead of one per user. Deleted after ``SNIPE_RETENTION_DAYS``."""

    token_mint = models.CharField(max_length=44, unique=True)
    launch_signature = models.CharField(max_length=88, blank=True, default="")
    reason = models.TextField()
    users_affected = models.PositiveIntegerField(help_text="Snipe-enabled users at the time, none of whom bought.")
    lamports = models.BigIntegerField(default=0, help_text="What those users would have spent together.")
    detected_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "snipe_launches"
        ordering = ["-created_at"]
        verbose_name = "skipped launch"
        verbose_name_plural = "skipped launches"

    def __str__(self) -> str:
        return f"skipped {self.token_mint[:6]}… for {self.users_affected} user(s)"


class Snipe(models.Model):
    """A buy attempted for one snipe-enabled user and what came of it: bought, refused for that user's own reason
    (their limits, their balance, paused for them), or failed. Token-level skips are a SnipeLaunch instead."""

    class Status(models.TextChoices):
        BOUGHT = "bought", "Bought"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(UserWallet, on_delete=models.PROTECT, related_name="snipes")
    token_mint = models.CharField(max_length=44)
    launch_signature = models.CharField(max_length=88, blank=True, default="")
    status = models.CharField(max_length=7, choices=Status.choices)
    reason = models.TextField(blank=True, default="")
    lamports = models.BigIntegerField(default=0)
    trade_signature = models.CharField(max_length=88, blank=True, default="")
    detected_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "snipes"
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "token_mint"], name="one_snipe_per_user_and_mint")]

    def __str__(self) -> str:
        return f"{self.status} {self.token_mint[:6]}… for {self.user}"
