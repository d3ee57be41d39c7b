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
    paper = models.BooleanField(default=False, db_index=True,
                                help_text="Bought on paper: no token is held on chain for it.")
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "positions"
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "token_mint", "paper"], condition=Q(is_open=True),
                                    name="one_open_position_per_user_mint_and_book"),
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
        book = ", paper" if self.paper else ""
        return f"{self.token_mint[:6]}… of {self.user} ({state}{book})"

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
    paper = models.BooleanField(default=False, db_index=True,
                                help_text="A paper trade: quoted and checked, never signed or sent; its figures are "
                                          "the quote's, its signature a paper reference.")
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
    order_firing = models.OneToOneField("OrderFiring", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="trade", help_text="The order firing that sent this trade.")
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
            models.CheckConstraint(condition=Q(paper=False) | Q(signed_transaction__isnull=True),
                                   name="trade_paper_never_signed"),
            *u64_range_constraints("trade", "amount_in_raw", "quoted_out", "min_out", "amount_out_raw"),
        ]

    def __str__(self) -> str:
        book = "paper " if self.paper else ""
        return f"{book}{self.side} {self.token_mint[:6]}… {self.status} ({self.signature[:8]}…)"


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
    paper = models.BooleanField(default=False, help_text="Attempted for a trader on paper: a paper buy.")
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


class Order(models.Model):
    """A trade left behind: bought or sold by the monitor when its trigger is met (or, for DCA, when a part is due).

    Every trigger is an exact price in lamports per raw token unit, ``trigger_num / trigger_den`` (``positions.
    rational``), derived once from what the trader typed (``trigger_text``, kept for display). A limit buy fires at
    or below it, a limit sell at or above it; a trailing stop fires at ``peak × (100 − trail_percent) / 100`` or
    below, its peak persisted so a restart does not reset it."""

    class Kind(models.TextChoices):
        LIMIT_BUY = "limit_buy", "Limit buy"
        LIMIT_SELL = "limit_sell", "Limit sell"
        TRAILING_STOP = "trailing_stop", "Trailing stop"
        DCA_BUY = "dca_buy", "DCA buy"
        DCA_SELL = "dca_sell", "DCA sell"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FIRING = "firing", "Firing"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(UserWallet, on_delete=models.PROTECT, related_name="orders")
    token_mint = models.CharField(max_length=44)
    token_decimals = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=13, choices=Kind.choices)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    paper = models.BooleanField(default=False, help_text="Placed on paper: fires paper trades.")
    trigger_text = models.CharField(max_length=60, blank=True, default="", help_text="The trigger as typed.")
    trigger_num = U64Field(null=True, blank=True, help_text="Trigger price: lamports per raw unit, numerator.")
    trigger_den = U64Field(null=True, blank=True, help_text="Trigger price: lamports per raw unit, denominator.")
    lamports = models.BigIntegerField(default=0, help_text="A buy's amount (DCA: the total of every part).")
    sell_amount = models.CharField(max_length=40, blank=True, default="", help_text="all, N% or a token amount.")
    trail_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    activation_num = U64Field(null=True, blank=True)
    activation_den = U64Field(null=True, blank=True)
    peak_num = U64Field(null=True, blank=True, help_text="Highest price seen since the trailing stop was armed.")
    peak_den = U64Field(null=True, blank=True)
    parts = models.PositiveIntegerField(default=0)
    parts_done = models.PositiveIntegerField(default=0)
    interval_seconds = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Refusals in a row since the last fill.")
    retry_at = models.DateTimeField(null=True, blank=True)
    firings_started = models.PositiveIntegerField(default=0, help_text="Sequence number of the last firing.")
    failure_reason = models.TextField(blank=True, default="")
    version = models.PositiveBigIntegerField(default=0, help_text="Raised by every change: the monitor re-reads "
                                                                  "only the orders whose version moved.")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "orders"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(lamports__gte=0), name="order_lamports_non_negative"),
            models.CheckConstraint(condition=Q(parts_done__lte=F("parts")) | Q(parts=0),
                                   name="order_parts_done_within_parts"),
            models.CheckConstraint(condition=Q(trigger_num__isnull=True, trigger_den__isnull=True)
                                   | Q(trigger_num__isnull=False, trigger_den__gt=0),
                                   name="order_trigger_is_a_pair"),
            models.CheckConstraint(condition=Q(kind__in=["limit_buy", "limit_sell", "trailing_stop", "dca_buy",
                                                           "dca_sell"]),
                                   name="order_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=["active", "firing", "filled", "cancelled", "failed",
                                                           "expired"]), name="order_status_valid"),
            *u64_range_constraints("order", "trigger_num", "trigger_den", "activation_num", "activation_den",
                                   "peak_num", "peak_den"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.token_mint[:6]}… of {self.user} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        """Every change raises the version. Orders are saved only on rows locked for the change (order_services),
        so the version read is the one stored; bulk updates raise it themselves."""
        self.version += 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = [*kwargs["update_fields"], "version"]
        super().save(*args, **kwargs)

    @property
    def trigger(self) -> tuple[int, int] | None:
        return None if self.trigger_num is None else (self.trigger_num, self.trigger_den)


class OrderFiring(models.Model):
    """One attempt to execute an order, written (with the order moved to ``firing``) before its trade starts: the
    idempotency key of that trade (``Trade.order_firing`` is unique). A firing with no trade sent nothing; one with
    a trade follows the trade's outcome."""

    class Outcome(models.TextChoices):
        OPEN = "", "Open"
        FILLED = "filled", "Filled"
        REFUSED = "refused", "Refused"
        ABANDONED = "abandoned", "Abandoned (nothing sent)"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="firings")
    seq = models.PositiveIntegerField()
    outcome = models.CharField(max_length=9, choices=Outcome.choices, blank=True, default=Outcome.OPEN)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "order_firings"
        ordering = ["order_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["order", "seq"], name="one_firing_per_order_and_seq")]

    def __str__(self) -> str:
        return f"firing {self.seq} of order {self.order_id} ({self.outcome or 'open'})"


class PaperAccount(models.Model):
    """A trader's paper book: the virtual SOL their paper trades spend and receive (PAPER_START_SOL at the start).
    It moves only with a paper trade, in the transaction that records it, so it always equals the start plus the
    SOL change of every paper trade since the last reset; it never goes below zero."""

    user = models.OneToOneField(UserWallet, on_delete=models.CASCADE, related_name="paper_account")
    balance_lamports = models.BigIntegerField(help_text="Virtual SOL available to paper trades.")
    start_lamports = models.BigIntegerField(help_text="Virtual SOL the book started with (at the last reset).")
    started_at = models.DateTimeField(help_text="When the book started (or was last reset).")

    class Meta:
        db_table = "paper_accounts"
        constraints = [
            models.CheckConstraint(condition=Q(balance_lamports__gte=0), name="paper_balance_non_negative"),
            models.CheckConstraint(condition=Q(start_lamports__gt=0), name="paper_start_positive"),
        ]

    def __str__(self) -> str:
        return f"Paper book of {self.user}"

    @property
    def balance_sol(self):
        return lamports_to_sol(self.balance_lamports)
