"""Refusals from the custody guards: kill switches, the second factor, the swap inspector, delayed settings, and
money leaving a wallet (a withdrawal, a key export, a change to the user's own withdrawal protection). Each carries
data (its ``code`` and typed attributes) that ``telegrambot.texts.refusal`` words, and changes nothing."""

from __future__ import annotations

from enum import Enum

from kernel.chain.errors import is_slippage
from kernel.errors import UserFacingError


class ActionPaused(UserFacingError):
    """A kill switch is on for ``action`` (a ``KillSwitch.Action`` value: "buys"), for everyone or one user."""

    code = "action_paused"

    def __init__(self, action: str, *, for_everyone: bool) -> None:
        self.action, self.for_everyone = action, for_everyone
        super().__init__()


class SwapRefused(UserFacingError):
    """The swap service's transaction does not match what the trader asked for: it is never signed.

    ``check`` names the rule that refused it (for the audit log and metrics); ``finding`` names what the transaction
    would have done, and ``facts`` hold its figures and addresses (lamports, an account): never a secret.
    """

    code = "swap_refused"

    def __init__(self, check: str, finding: str, **facts: int | str) -> None:
        self.check, self.finding, self.facts = check, finding, facts
        super().__init__(" ".join([f"{check}: {finding}", *(f"{name}={value}" for name, value in facts.items())]))


class SwapWouldFail(UserFacingError):
    """The simulation says the swap would fail on chain: it is not signed or sent, and nothing is spent."""

    code = "swap_would_fail"

    def __init__(self, error: str, logs: list[str] | None = None) -> None:
        self.error = error
        self.logs = logs or []
        super().__init__(error)

    @property
    def is_slippage(self) -> bool:
        return is_slippage(self.error, self.logs)

    @property
    def is_expired(self) -> bool:
        text = " ".join([self.error, *self.logs])
        return "BlockhashNotFound" in text or "Blockhash not found" in text

    @property
    def is_insufficient_funds(self) -> bool:
        return "insufficient" in " ".join([self.error, *self.logs]).lower()


class WalletBusy(UserFacingError):
    """The trader's accounts kept changing while a swap was checked (their other trades landing), so its effect
    could not be judged: nothing is signed."""

    code = "wallet_busy"


class SettingRefused(UserFacingError):
    """A setting beyond what the operator allows (``maximum``, in the setting's own unit); nothing was changed."""

    code = "setting_refused"

    def __init__(self, setting: str, *, maximum: int) -> None:
        self.setting, self.maximum = setting, maximum
        super().__init__()


class WithdrawalError(UserFacingError):
    """A withdrawal, a key export or an allow-list change refused, or a withdrawal that did not go through.
    ``reason`` says which; ``facts`` holds what its sentence needs (lamports, an address's date, protections)."""

    code = "withdrawal_refused"

    class Reason(Enum):
        FROZEN = "frozen"
        EXPORT_FROZEN = "export_frozen"
        EXPORT_PROTECTED = "export_protected"  # protections: ((name, command to turn it off), ...)
        NOT_ALLOWLISTED = "not_allowlisted"
        ALLOWLIST_PENDING = "allowlist_pending"  # active_from
        ALREADY_ALLOWLISTED = "already_allowlisted"
        OWN_ADDRESS_ALLOWLISTED = "own_address_allowlisted"
        NOT_ON_ALLOWLIST = "not_on_allowlist"
        ALLOWLIST_ALREADY_OFF = "allowlist_already_off"
        REQUEST_EXPIRED = "request_expired"
        ALREADY_ANSWERED = "already_answered"
        MISMATCH = "mismatch"
        OWN_ADDRESS = "own_address"
        NOT_A_WALLET = "not_a_wallet"
        NOTHING_TO_WITHDRAW = "nothing_to_withdraw"  # balance, fee
        OVER_BALANCE = "over_balance"  # withdrawable, balance, fee
        DUST_LEFT = "dust_left"  # left, rent
        DESTINATION_NEEDS_RENT = "destination_needs_rent"  # rent
        NETWORK_REFUSED = "network_refused"
        NOT_ANSWERING = "not_answering"
        DID_NOT_GO_THROUGH = "did_not_go_through"

    def __init__(self, reason: WithdrawalError.Reason, **facts: object) -> None:
        self.reason, self.facts = reason, facts
        super().__init__(" ".join([reason.value, *(f"{name}={value}" for name, value in facts.items())]))
