"""Refusals from the custody guards. Each carries ``user_message``, safe to show a trader, and changes nothing."""

from __future__ import annotations

from positions.errors import TradingError


class ActionPaused(TradingError):
    """A kill switch is on for this action."""

    def __init__(self, action_label: str, *, for_everyone: bool) -> None:
        who = "for everyone" if for_everyone else "on your account"
        super().__init__(f"{action_label} are paused {who} by the operators right now, so nothing was done. Your "
                         "funds are safe; try again later or contact support.")


class SecondFactorRequired(TradingError):
    pass


class SettingRefused(TradingError):
    """A setting beyond what the operator allows (the message names the limit); nothing was changed."""
