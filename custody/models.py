"""Custody guards: the audit log, kill switches, the second factor, the withdrawal allow-list and policy, and the
chat messages that held key material until they are deleted."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from wallets.models import UserWallet


class AuditEvent(models.Model):
    """One security-relevant event: who, when, what, from where. Append-only: never edited, never deleted."""

    class Action(models.TextChoices):
        WALLET_CREATED = "wallet_created", "Wallet created"
        KEY_EXPORTED = "key_exported", "Private key exported"
        KEY_EXPORT_REFUSED = "key_export_refused", "Key export refused"
        WITHDRAWAL_REQUESTED = "withdrawal_requested", "Withdrawal requested"
        WITHDRAWAL_APPROVED = "withdrawal_approved", "Withdrawal approved"
        WITHDRAWAL_SCHEDULED = "withdrawal_scheduled", "Withdrawal delayed"
        WITHDRAWAL_REFUSED = "withdrawal_refused", "Withdrawal refused"
        WITHDRAWAL_CANCELLED = "withdrawal_cancelled", "Withdrawal cancelled"
        WITHDRAWAL_HELD = "withdrawal_held", "Withdrawal held by staff"
        WITHDRAWAL_RELEASED = "withdrawal_released", "Withdrawal released by staff"
        WITHDRAWAL_SENT = "withdrawal_sent", "Withdrawal sent"
        WITHDRAWAL_FAILED = "withdrawal_failed", "Withdrawal failed"
        SETTINGS_CHANGED = "settings_changed", "Settings changed"
        TOTP_ENABLED = "totp_enabled", "Second factor enabled"
        TOTP_DISABLED = "totp_disabled", "Second factor disabled"
        TOTP_FAILED = "totp_failed", "Wrong second-factor code"
        TOTP_LOCKED = "totp_locked", "Locked after wrong codes"
        ALLOWLIST_ADDED = "allowlist_added", "Allow-list address added"
        ALLOWLIST_REMOVED = "allowlist_removed", "Allow-list address removed"
        POLICY_CHANGED = "policy_changed", "Withdrawal protection changed"
        SETTING_CHANGE_DELAYED = "setting_change_delayed", "Trading setting loosening requested (delayed)"
        SETTING_CHANGE_APPLIED = "setting_change_applied", "Delayed trading setting applied"
        SETTING_CHANGE_CANCELLED = "setting_change_cancelled", "Delayed trading setting cancelled"
        SETTING_REFUSED = "setting_refused", "Trading setting refused"
        BUY_REFUSED = "buy_refused", "Buy refused by a limit"
        KILL_SWITCH_ON = "kill_switch_on", "Kill switch on"
        KILL_SWITCH_OFF = "kill_switch_off", "Kill switch off"
        WALLET_FROZEN = "wallet_frozen", "Wallet frozen"
        WALLET_UNFROZEN = "wallet_unfrozen", "Wallet unfrozen"
        KEY_ROTATED = "key_rotated", "Encryption key rotated"
        STAFF_CHANGE = "staff_change", "Staff edit in the admin"
        STAFF_LOGIN = "staff_login", "Staff login"
        STAFF_LOGIN_FAILED = "staff_login_failed", "Failed staff login"
        SWAP_REFUSED = "swap_refused", "Swap refused before signing"
        STAFF_CHANGE_REFUSED = "staff_change_refused", "Staff edit refused"
        STAFF_OTP_ADDED = "staff_otp_added", "Staff authenticator enrolled"
        STAFF_OTP_REMOVED = "staff_otp_removed", "Staff authenticator removed"
        TOTP_REUSED = "totp_reused", "Second-factor code used again"
        TOTP_RESET_REQUESTED = "totp_reset_requested", "Staff 2FA reset requested"
        TOTP_RESET_APPLIED = "totp_reset_applied", "Staff 2FA reset applied"
        TOTP_RESET_CANCELLED = "totp_reset_cancelled", "Staff 2FA reset cancelled"
        REFUSED_OUTSIDE_PRIVATE_CHAT = "refused_outside_private", "Refused outside a private chat"
        CACHE_ENTRY_REFUSED = "cache_entry_refused", "Unreadable shared-cache entry refused"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    actor = models.CharField(max_length=150, help_text="Who: a Telegram user, a staff member, an operator, the bot.")
    source = models.CharField(max_length=100, help_text="From where: telegram, admin (with the IP), manage.py, bot.")
    user = models.ForeignKey(UserWallet, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="audit_events", help_text="The wallet concerned, if any.")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class KillSwitch(models.Model):
    """While a row exists, its action is paused: for everyone (no user) or for one user."""

    class Action(models.TextChoices):
        BUYS = "buys", "Buys"
        SELLS = "sells", "Sells (including stop-loss / take-profit)"
        WITHDRAWALS = "withdrawals", "Withdrawals"
        SNIPING = "sniping", "Sniping"
        ALL = "all", "Everything (buys, sells, sniping and withdrawals)"

    action = models.CharField(max_length=12, choices=Action.choices)
    user = models.ForeignKey(UserWallet, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="kill_switches", help_text="Empty = every user.")
    reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.CharField(max_length=150, editable=False, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "kill_switches"
        verbose_name_plural = "kill switches"
        ordering = ["action", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["action", "user"], name="kill_switch_once_per_user"),
            models.UniqueConstraint(fields=["action"], condition=models.Q(user__isnull=True),
                                    name="kill_switch_once_globally"),
        ]

    def __str__(self) -> str:
        scope = f"for {self.user}" if self.user_id else "for everyone"
        return f"{self.get_action_display()} paused {scope}"


class SecondFactor(models.Model):
    """A user's TOTP secret, sealed with the wallet keyring. Active once the user has confirmed one code."""

    user = models.OneToOneField(UserWallet, on_delete=models.CASCADE, related_name="second_factor")
    encrypted_secret = models.TextField(editable=False)
    key_fingerprint = models.CharField(max_length=16, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0, editable=False, help_text="Replay guard: a code works once.")
    created_at = models.DateTimeField(auto_now_add=True)
    # A reset staff asked for (the user lost their phone): it waits, announced to the user, so that a staff account
    # in the wrong hands cannot strip a user's second factor and withdraw in the same minute.
    reset_requested_at = models.DateTimeField(null=True, blank=True)
    reset_requested_by = models.CharField(max_length=150, blank=True, default="")
    reset_after = models.DateTimeField(null=True, blank=True, db_index=True,
                                       help_text="A staff reset turns two-step verification off at this time.")

    class Meta:
        db_table = "second_factors"

    def __str__(self) -> str:
        return f"2FA of {self.user} ({'on' if self.confirmed_at else 'being set up'})"

    def __repr__(self) -> str:
        return f"<SecondFactor {self.pk} user={self.user_id}>"


class WithdrawalPolicy(models.Model):
    """A user's own withdrawal protection. Tightening applies at once; loosening waits (announced to the user)."""

    user = models.OneToOneField(UserWallet, on_delete=models.CASCADE, related_name="withdrawal_policy")
    allowlist_enabled = models.BooleanField(default=False)
    allowlist_off_at = models.DateTimeField(null=True, blank=True, help_text="When a requested switch-off applies.")
    large_threshold_lamports = models.BigIntegerField(null=True, blank=True,
                                                      help_text="Withdrawals above this wait. Empty = off.")
    pending_threshold_lamports = models.BigIntegerField(null=True, blank=True)
    pending_threshold_off = models.BooleanField(default=False)
    pending_threshold_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "withdrawal_policies"
        verbose_name_plural = "withdrawal policies"
        constraints = [
            models.CheckConstraint(condition=models.Q(large_threshold_lamports__isnull=True)
                                   | models.Q(large_threshold_lamports__gt=0), name="policy_threshold_positive"),
        ]

    def __str__(self) -> str:
        return f"Withdrawal policy of {self.user}"


class PendingSettingChange(models.Model):
    """A loosening of a trading setting asked for while the trader had protection on: it applies at
    ``effective_at`` unless cancelled or replaced. Until then the setting in force is the old one."""

    user = models.ForeignKey(UserWallet, on_delete=models.CASCADE, related_name="pending_setting_changes")
    setting = models.CharField(max_length=20, help_text="The setting's name, as in /set.")
    value = models.JSONField(null=True, help_text="The new value (lamports, basis points, on/off); empty = off.")
    requested_at = models.DateTimeField()
    effective_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "pending_setting_changes"
        ordering = ["effective_at"]
        constraints = [models.UniqueConstraint(fields=["user", "setting"], name="pending_setting_once")]

    def __str__(self) -> str:
        return f"{self.setting} → {self.value} for {self.user} at {self.effective_at:%Y-%m-%d %H:%M}"


class AllowedAddress(models.Model):
    """An address the user may withdraw to once ``active_from`` has passed."""

    user = models.ForeignKey(UserWallet, on_delete=models.CASCADE, related_name="allowed_addresses")
    address = models.CharField(max_length=44)
    label = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    active_from = models.DateTimeField()

    class Meta:
        db_table = "allowed_addresses"
        ordering = ["created_at"]
        verbose_name_plural = "allowed addresses"
        constraints = [models.UniqueConstraint(fields=["user", "address"], name="allowlist_address_once")]

    def __str__(self) -> str:
        return f"{self.address} for {self.user}"


class SensitiveMessage(models.Model):
    """A chat message that shows key material, until the bot has deleted it. Kept in the database so a restart or a
    crash cannot leave it in the chat."""

    class Kind(models.TextChoices):
        PRIVATE_KEY = "key", "Private key"
        TOTP_SETUP = "totp", "Authenticator setup"

    chat_id = models.BigIntegerField()
    message_id = models.BigIntegerField()
    kind = models.CharField(max_length=4, choices=Kind.choices)
    delete_after = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "sensitive_messages"
        constraints = [models.UniqueConstraint(fields=["chat_id", "message_id"], name="sensitive_message_once")]


class Notice(models.Model):
    """A message for a trader that a process without the bot (the admin) wants sent: the bot process delivers it
    (at most once) and stamps ``sent_at``. The text is rendered by the bot from ``kind`` and ``detail``."""

    class Kind(models.TextChoices):
        TOTP_RESET_REQUESTED = "totp_reset_requested", "2FA reset requested by staff"
        TOTP_RESET_CANCELLED = "totp_reset_cancelled", "2FA reset cancelled"
        TOTP_RESET_APPLIED = "totp_reset_applied", "2FA reset applied"
        ORDER_CANCELLED = "order_cancelled", "Order cancelled by staff"

    telegram_user_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "notices"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.telegram_user_id}"
