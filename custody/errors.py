"""Refusals from the custody guards: kill switches, the second factor, the swap inspector, delayed settings, and
money leaving a wallet (a withdrawal, a key export, a change to the user's own withdrawal protection). Each carries
``user_message``, safe to show a trader, and changes nothing."""

from __future__ import annotations

from kernel.errors import UserFacingError


class ActionPaused(UserFacingError):
    """A kill switch is on for this action."""

    code = "action_paused"

    def __init__(self, action_label: str, *, for_everyone: bool) -> None:
        who = "for everyone" if for_everyone else "on your account"
        super().__init__(f"{action_label} are paused {who} by the operators right now, so nothing was done. Your "
                         "funds are safe; try again later or contact support.")


class SecondFactorRequired(UserFacingError):
    code = "second_factor_required"


class SwapRefused(UserFacingError):
    """The swap service's transaction does not match what the trader asked for: it is never signed.

    ``check`` names the rule that refused it (for the audit log and metrics); ``detail`` says what the transaction
    would have done, in a trader's words, without any secret.
    """

    code = "swap_refused"

    def __init__(self, check: str, detail: str) -> None:
        self.check = check
        self.detail = detail
        super().__init__(f"The swap service returned a transaction that would move funds you did not ask to move "
                         f"({detail}), so nothing was signed and nothing moved. Your funds are safe; the operators "
                         "have been alerted.")


class SwapWouldFail(UserFacingError):
    """The simulation says the swap would fail on chain: it is not signed or sent, and nothing is spent."""

    code = "swap_would_fail"

    def __init__(self, error: str, logs: list[str] | None = None) -> None:
        self.error = error
        text = " ".join([error, *(logs or [])])
        if "6001" in text or "0x1771" in text or "SlippageToleranceExceeded" in text:
            message = ("The price moved more than your slippage allows, so the swap was not sent and nothing was "
                       "spent. Try again, or raise your slippage in /settings.")
        elif "BlockhashNotFound" in text or "Blockhash not found" in text:
            message = "The swap service returned an expired transaction, so nothing was signed. Please try again."
        elif "insufficient" in text.lower():
            message = ("Your wallet does not hold enough for this trade and its network fees, so nothing was sent. "
                       "Check /wallet and /positions, then try a smaller amount.")
        else:
            message = "The swap would fail on the network, so it was not sent and nothing was spent. Please try again."
        super().__init__(message)


class WalletBusy(UserFacingError):
    """The trader's accounts kept changing while a swap was checked (their other trades landing), so its effect
    could not be judged: nothing is signed."""

    code = "wallet_busy"

    user_message = ("Your wallet kept changing while this trade was being checked (other trades of yours landing), "
                    "so nothing was signed. Try again in a moment.")


class SettingRefused(UserFacingError):
    """A setting beyond what the operator allows (the message names the limit); nothing was changed."""

    code = "setting_refused"


class WithdrawalError(UserFacingError):
    """A withdrawal, a key export or an allow-list change refused, or a withdrawal that did not go through."""

    code = "withdrawal_refused"
