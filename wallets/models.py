from __future__ import annotations

from django.db import models


class UserWallet(models.Model):
    """A trader's custodial wallet. ``encrypted_secret`` is a Fernet token; it is never shown anywhere."""

    telegram_user_id = models.BigIntegerField(unique=True)
    telegram_username = models.CharField(max_length=64, blank=True, default="")
    public_key = models.CharField(max_length=44, unique=True)
    encrypted_secret = models.TextField(editable=False)
    key_fingerprint = models.CharField(max_length=16, db_index=True, editable=False,
                                       help_text="Which encryption key sealed the secret (for rotation).")
    is_frozen = models.BooleanField(default=False, help_text="A frozen user cannot trade or withdraw.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_wallets"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        name = f"@{self.telegram_username}" if self.telegram_username else str(self.telegram_user_id)
        return f"{name} ({self.public_key[:4]}…{self.public_key[-4:]})"

    def __repr__(self) -> str:
        # Never the default repr of fields: it would include the sealed secret.
        return f"<UserWallet {self.pk} tg={self.telegram_user_id} {self.public_key}>"


class FeeLevel(models.TextChoices):
    """How a trade's priority fee is chosen: the trader's fixed amount, or a percentile of the fee market's recent
    compute-unit prices, never above that amount (``priority_fee_lamports`` is then their maximum)."""

    FIXED = "fixed", "Fixed"
    FAST = "fast", "Fast (75th percentile of the market)"
    TURBO = "turbo", "Turbo (95th percentile of the market)"


# MEV protection's tip (the block engine's auction needs one): Jito's minimum, a sensible default, and a bound that
# keeps a typo (or a hostile swap API, which the inspector holds to the trader's setting) from costing much.
MIN_TIP_LAMPORTS = 1_000
DEFAULT_TIP_LAMPORTS = 100_000  # 0.0001 SOL
MAX_TIP_LAMPORTS = 10_000_000  # 0.01 SOL


class UserSettings(models.Model):
    """Per-user trading settings, created with the wallet from the config defaults. Money in lamports."""

    user = models.OneToOneField(UserWallet, on_delete=models.CASCADE, related_name="settings")
    max_trade_size_lamports = models.BigIntegerField()
    daily_loss_limit_lamports = models.BigIntegerField()
    slippage_bps = models.PositiveIntegerField()
    stop_loss_percentage = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True,
                                               help_text="Empty = off.")
    take_profit_percentage = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                                 help_text="Empty = off.")
    snipe_enabled = models.BooleanField(default=False)
    snipe_amount_lamports = models.BigIntegerField()
    priority_fee_lamports = models.BigIntegerField(
        help_text="Lamports per trade: the fee at the fixed level, the most any level may pay otherwise.")
    priority_fee_level = models.CharField(max_length=5, choices=FeeLevel.choices, default=FeeLevel.FIXED)
    confirm_trades = models.BooleanField(default=False)
    mev_protection = models.BooleanField(
        default=False, help_text="Trades go to the block engine (JITO_BLOCK_ENGINE_URL) as a bundle with a tip, out of "
                                 "sandwichers' sight, instead of the public RPC.")
    jito_tip_lamports = models.BigIntegerField(
        default=DEFAULT_TIP_LAMPORTS, help_text="Lamports each protected trade tips the block engine (and the most "
                                                "a swap may pay a tip account).")
    daily_spend_limit_lamports = models.BigIntegerField(
        null=True, blank=True, help_text="SOL the user's buys may spend in 24 hours. Empty = the operator's cap.")
    buy_code_above_lamports = models.BigIntegerField(
        null=True, blank=True, help_text="With 2FA on, a buy above this asks for a code. Empty = off.")
    buy_code_slippage_bps = models.PositiveIntegerField(
        null=True, blank=True, help_text="With 2FA on, a buy at a slippage above this asks for a code. Empty = off.")
    auto_buy_lamports = models.BigIntegerField(
        null=True, blank=True, help_text="A pasted mint address buys this much at once (the ordinary buy, with all its "
                                         "checks) instead of showing the token card. Empty = off.")
    paper_mode = models.BooleanField(
        default=False, help_text="Trades on paper: quoted and checked as real ones, never signed or sent, against a "
                                 "virtual balance (PAPER_TRADING=true puts everyone on paper whatever this says).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_settings"
        verbose_name_plural = "user settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(max_trade_size_lamports__gt=0),
                                   name="settings_max_trade_positive"),
            models.CheckConstraint(condition=models.Q(daily_loss_limit_lamports__gte=0),
                                   name="settings_daily_loss_non_negative"),
            models.CheckConstraint(condition=models.Q(slippage_bps__gte=1, slippage_bps__lte=10_000),
                                   name="settings_slippage_range"),
            models.CheckConstraint(condition=models.Q(snipe_amount_lamports__gte=0),
                                   name="settings_snipe_non_negative"),
            models.CheckConstraint(condition=models.Q(priority_fee_lamports__gte=0),
                                   name="settings_priority_fee_non_negative"),
            models.CheckConstraint(condition=models.Q(priority_fee_level__in=FeeLevel.values),
                                   name="settings_priority_fee_level_known"),
            models.CheckConstraint(condition=models.Q(daily_spend_limit_lamports__isnull=True)
                                   | models.Q(daily_spend_limit_lamports__gt=0), name="settings_daily_spend_positive"),
            models.CheckConstraint(condition=models.Q(jito_tip_lamports__gte=MIN_TIP_LAMPORTS,
                                                      jito_tip_lamports__lte=MAX_TIP_LAMPORTS),
                                   name="settings_jito_tip_range"),
            models.CheckConstraint(condition=models.Q(buy_code_above_lamports__isnull=True)
                                   | models.Q(buy_code_above_lamports__gte=0), name="settings_buy_code_non_negative"),
            models.CheckConstraint(condition=models.Q(auto_buy_lamports__isnull=True)
                                   | models.Q(auto_buy_lamports__gt=0), name="settings_auto_buy_positive"),
        ]

    def __str__(self) -> str:
        return f"Settings of {self.user}"


class Withdrawal(models.Model):
    """SOL sent out of a custodial wallet. Like a trade: written as pending with its signature before it is sent.

    A withdrawal starts ``requested`` when the bot asks the user to confirm it: the confirmation button carries only
    this row's id, so the destination and amount confirmed are the ones stored here, not in the shared cache.
    A large withdrawal is then ``scheduled`` (no transaction yet) until ``execute_after``; the user can cancel it
    and staff can hold it meanwhile."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Awaiting the user's confirmation"
        SCHEDULED = "scheduled", "Delayed (not sent yet)"
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(UserWallet, on_delete=models.PROTECT, related_name="withdrawals")
    destination = models.CharField(max_length=44)
    lamports = models.BigIntegerField()
    fee_lamports = models.BigIntegerField(default=0)
    sol_change_lamports = models.BigIntegerField(default=0)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING, db_index=True)
    signature = models.CharField(max_length=88, unique=True, null=True, blank=True)
    last_valid_block_height = models.BigIntegerField(null=True, blank=True)
    signed_transaction = models.BinaryField(null=True, blank=True, editable=False,
                                            help_text="The signed bytes as sent (public once sent, no secret): a "
                                                      "restarted bot resends them until the blockhash expires.")
    error = models.TextField(blank=True, default="")
    execute_after = models.DateTimeField(null=True, blank=True, help_text="A delayed withdrawal is sent after this.")
    held_at = models.DateTimeField(null=True, blank=True, help_text="Held by staff: not sent until released.")
    held_by = models.CharField(max_length=150, blank=True, default="")
    cancelled_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "withdrawals"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(lamports__gt=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(condition=models.Q(fee_lamports__gte=0), name="withdrawal_fee_non_negative"),
            models.CheckConstraint(condition=models.Q(status__in=["requested", "scheduled", "cancelled"])
                                   | models.Q(signature__isnull=False, last_valid_block_height__isnull=False),
                                   name="withdrawal_sent_has_signature"),
        ]

    def __str__(self) -> str:
        return f"{self.lamports} lamports to {self.destination[:6]}… ({self.status})"
