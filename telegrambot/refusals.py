"""The words for every refusal: ``refusal(err)`` says what went wrong and what to do, from the error's ``code`` and
its data. Domain errors carry no English (``kernel.errors``); a new error class needs its wording here, which a test
holds for every user-facing class. Re-exported by ``texts``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from custody.errors import ActionPaused, SettingRefused, SwapRefused, SwapWouldFail, WithdrawalError
from custody.second_factor import CodeRefused
from kernel.chain.errors import JupiterError, TransactionRejected
from kernel.display import plain, sol, tokens
from kernel.errors import UserFacingError, WordedError
from kernel.money import lamports_to_sol
from positions.errors import (
    DailyLossLimitReached,
    DailySpendCapReached,
    InsufficientBalance,
    InvalidAmount,
    InvalidMint,
    NoOpenPosition,
    PaperBalanceTooLow,
    SellAmountTooLarge,
    ServiceUnavailable,
    TokenRefused,
    TradeFailed,
    TradeTooLarge,
    UnknownToken,
)
from positions.order_errors import OrderNotCancellable, TooManyOrders, TriggerUnusable

Wording = Callable[[UserFacingError], str]
_WORDINGS: dict[str, Wording] = {}


def refusal(err: UserFacingError) -> str:
    """The sentence a user reads for ``err``: its class's wording, else its nearest ancestor's."""
    if isinstance(err, WordedError):
        return err.user_message  # these bring their own sentence
    for cls in type(err).__mro__:
        if "code" in vars(cls) and cls.code in _WORDINGS:
            return _WORDINGS[cls.code](err)
    return _WORDINGS[UserFacingError.code](err)


def worded_codes() -> frozenset[str]:
    return frozenset(_WORDINGS)


def _words(*codes: str):
    def register(wording: Wording) -> Wording:
        for code in codes:
            assert code not in _WORDINGS, code
            _WORDINGS[code] = wording
        return wording
    return register


def fixed(code: str, sentence: str) -> None:
    """Word ``code`` with one sentence whatever its data."""
    _words(code)(lambda err: sentence)


# The bases.
fixed("refused", "That could not be done; nothing was changed.")
fixed("trade_refused", "The trade could not be done; nothing was changed.")

# Trading (positions.errors).
fixed("wallet_not_found", "You have no wallet yet. Send /start to create one.")
fixed("trading_frozen",
       "Trading is paused on your account by the operators. Contact support if this is unexpected.")
fixed("wrapped_sol_mint", "That is wrapped SOL itself; paste the mint address of the token you want to trade.")
fixed("already_selling", "Everything in this position is already being sold. Wait for that sale to finish.")
fixed("sell_amount_too_small", "That amount is smaller than the token's smallest unit, so there is nothing to sell. "
                                "Use a larger amount, a percentage like 50%, or 'all'.")
fixed("mev_protection_unavailable", "MEV protection is on in your settings, but the operator no longer offers it "
                                    "(no block engine is configured), so nothing was sent. Turn it off with /set mev "
                                    "off to trade through the public network.")
fixed("chain_shortfall", "Your wallet holds fewer tokens on chain than this position records, so the sale was "
                          "stopped. The operators have been alerted; nothing was changed.")
fixed("duplicate_trade", "An identical trade was sent a moment ago and is still on its way, so this one was not "
                          "sent. Check /positions in a few seconds; repeat it then if you still want it.")


@_words("invalid_mint")
def _invalid_mint(err: InvalidMint) -> str:
    shown = err.mint if len(err.mint) <= 50 else err.mint[:47] + "..."
    return (f"'{shown}' is not a Solana token address. Paste the token's mint address "
            "(32–44 letters and digits, like DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263).")


@_words("unknown_token")
def _unknown_token(err: UnknownToken) -> str:
    return f"No token exists at {err.mint}. Check the mint address (not a wallet or pool address)."


@_words("trade_too_large")
def _trade_too_large(err: TradeTooLarge) -> str:
    return (f"{sol(err.lamports)} is more than your maximum trade size of {sol(err.limit)}. Buy at most "
            f"{sol(err.limit)}, or raise the limit in /settings.")


@_words("daily_loss_limit_reached")
def _daily_loss_limit(err: DailyLossLimitReached) -> str:
    return (f"Buying is paused: you have lost {sol(err.lost)} today, reaching your daily loss limit of "
            f"{sol(err.limit)}. It resets at {err.resets_at:%H:%M} UTC ({err.resets_at:%Y-%m-%d}). "
            "Selling is still allowed.")


@_words("daily_spend_cap_reached")
def _daily_spend_cap(err: DailySpendCapReached) -> str:
    return (f"This buy of {sol(err.lamports)} would go over your daily spend cap of {sol(err.cap)}: your buys "
            f"of the last 24 hours spent {sol(err.spent)}, so {sol(err.left)} is left. Nothing was bought. "
            "Buy at most what is left, or wait until earlier buys are more than 24 hours old.")


@_words("insufficient_balance")
def _insufficient_balance(err: InsufficientBalance) -> str:
    return (f"Not enough SOL: this trade needs {sol(err.needed)} including network fees and account "
            f"rent, and your wallet holds {sol(err.available)}. Deposit SOL or buy a smaller amount.")


@_words("position_changed")
def _position_changed(err) -> str:
    return (f"Another sale of this position finished while yours was starting, so nothing was sold: it now holds "
            f"{tokens(err.remaining_raw, err.decimals)}. See /positions and sell again if you still want to.")


@_words("paper_balance_too_low")
def _paper_balance_too_low(err: PaperBalanceTooLow) -> str:
    return (f"Not enough paper SOL: this paper trade needs {sol(err.needed)} including network fees and account "
            f"rent, and your paper balance is {sol(err.available)}. Buy a smaller amount, or sell a paper position "
            "first (/positions).")


@_words("paper_book_in_use")
def _paper_book_in_use(err) -> str:
    held = [f"{err.positions} open paper position{'s' if err.positions != 1 else ''} (sell with /positions)"
            if err.positions else "", f"{err.orders} paper order{'s' if err.orders != 1 else ''} (cancel with /orders)"
            if err.orders else ""]
    return ("A reset starts an empty paper book, and yours still has " + " and ".join(filter(None, held))
            + ". Close them first, then /paper reset.")


@_words("book_changed")
def _book_changed(err) -> str:
    if err.made_on_paper:
        return ("That was made while you were trading on paper, and you now trade real SOL: nothing was done. Paste "
                "the mint again (or use /positions) for fresh buttons, or /paper on to go back to paper.")
    return ("That was made for real SOL, and you are now trading on paper: nothing was done. Paste the mint again "
            "(or use /positions) for fresh buttons, or /paper off to trade real SOL.")


@_words("real_trading_off")
def _real_trading_off(err: UserFacingError) -> str:
    return ("This bot runs on paper only (its operator set PAPER_TRADING): no real trade is signed or sent. Your "
            "paper trades work as usual; see /paper.")


@_words("no_open_position")
def _no_open_position(err: NoOpenPosition) -> str:
    return f"You have no open position in {err.mint}. /positions lists what you hold."


@_words("sell_amount_too_large")
def _sell_amount_too_large(err: SellAmountTooLarge) -> str:
    pending = f" ({tokens(err.reserved, err.decimals)} more are being sold right now)" if err.reserved else ""
    return (f"You asked to sell {tokens(err.requested, err.decimals)} but hold "
            f"{tokens(err.available, err.decimals)} available{pending}. Sell at most that, or use 'all'.")


_AMOUNT = {
    InvalidAmount.Kind.PERCENT_UNREADABLE: "The percentage {problem}. Type a number from 0.01 to 100 followed by %, "
                                           "like 50%.",
    InvalidAmount.Kind.PERCENT_OVER_100: "You can sell at most 100% of a position. Type a percentage like 50%, or "
                                         "'all'.",
    InvalidAmount.Kind.PERCENT_BELOW_MINIMUM: "The smallest percentage you can sell is 0.01%. Type a percentage like "
                                              "50%, or 'all'.",
    InvalidAmount.Kind.SELL_AMOUNT_UNREADABLE: "The amount to sell {problem}. Type a token amount like 500, a "
                                               "percentage like 50%, or 'all'.",
    InvalidAmount.Kind.SELL_AMOUNT_UNUSABLE: "The amount to sell {problem}.",
    InvalidAmount.Kind.BUY_NOT_POSITIVE: "The amount of SOL must be more than zero, like 0.1.",
}


@_words("invalid_amount")
def _invalid_amount(err: InvalidAmount) -> str:
    return _AMOUNT[err.kind].format(problem=err.problem)


_TRADE_FAILED = {
    TradeFailed.Reason.STATUS_UNKNOWN: "The transaction was sent but its status could not be read (the network is "
                                       "not answering). It will be settled automatically as soon as the network "
                                       "answers; check /positions in a minute.",
    TradeFailed.Reason.DETAILS_PENDING: "The trade went through, but the network has not published its details "
                                        "yet. It will be settled automatically; check /positions in a minute.",
    TradeFailed.Reason.EXPIRED: "The transaction did not land before it expired, so nothing moved. The network may "
                                "be congested: try again, perhaps with a higher priority fee in /settings.",
}


@_words("trade_failed")
def _trade_failed(err: TradeFailed) -> str:
    if err.reason is TradeFailed.Reason.REJECTED and err.rejection is not None:
        return refusal(err.rejection)
    return _TRADE_FAILED.get(err.reason, _WORDINGS["trade_refused"](err))


@_words("service_unavailable")
def _service_unavailable(err: ServiceUnavailable) -> str:
    return refusal(err.cause) if err.cause is not None else _WORDINGS["trade_refused"](err)


@_words("token_refused")
def _token_refused(err: TokenRefused) -> str:
    return ("This token was refused before anything was sent: " + "; ".join(err.reasons) + ". Buying it could "
            "leave you unable to sell. Nothing was changed.")


# The chain and the swap API (kernel.chain.errors).
for _code in ("chain_error", "chain_unavailable", "rpc_error_unknown", "block_engine_unavailable"):
    fixed(_code, "The Solana network did not answer as expected; nothing was changed. Please try again shortly.")


@_words("transaction_rejected")
def _transaction_rejected(err: TransactionRejected) -> str:
    if err.is_slippage:
        return ("The price moved more than your slippage allows, so the swap was cancelled. Nothing was spent but "
                "the network fee. Try again, or raise your slippage in /settings.")
    if err.is_insufficient_funds:
        return "Your SOL balance is too low for this trade and its fees. Deposit SOL and try again."
    return "The network refused the transaction; nothing was changed. Please try again."


@_words("swap_api_refused")
def _swap_api_refused(err: JupiterError) -> str:
    if err.error_code == "TOKEN_NOT_TRADABLE":
        return "This token cannot be traded (it is unknown to the swap router). Check the mint address."
    if err.error_code in {"COULD_NOT_FIND_ANY_ROUTE", "NO_ROUTES_FOUND"}:
        return ("No swap route was found for this token and amount. It may have no liquidity; try a smaller amount "
                "or another token.")
    if err.status == 429:
        return "The swap service is busy right now; nothing was changed. Please try again in a few seconds."
    if err.status >= 500 or err.status == 0:
        return "The swap service is unavailable right now; nothing was changed. Please try again shortly."
    return "The swap service refused this request; nothing was changed."


# Custody's guards (custody.errors).
PAUSED = {"buys": "Buys", "sells": "Sells", "withdrawals": "Withdrawals and key export", "sniping": "Snipes",
          "all": "Trading and withdrawals"}  # by KillSwitch.Action


@_words("action_paused")
def _action_paused(err: ActionPaused) -> str:
    who = "for everyone" if err.for_everyone else "on your account"
    return (f"{PAUSED[err.action]} are paused {who} by the operators right now, so nothing was done. Your funds "
            "are safe; try again later or contact support.")


SWAP_FINDINGS = {  # what the refused transaction would have done, by SwapRefused.finding, with its facts
    "tokens_moved_outside": "it moves tokens outside the swap itself",
    "other_tokens": "the quote is for other tokens than the ones you trade",
    "other_amount": "the quote is for another amount than the one you asked for",
    "other_slippage": "the quote uses another slippage than your setting",
    "minimum_output": "the quote's minimum output does not match your slippage setting",
    "another_signer": "it needs another signer besides you ({signer})",
    "not_sole_signer": "your wallet is not its only signer and fee payer",
    "priority_fee_above_cap": "its priority fee of {fee} lamports is above your cap of {cap} lamports",
    "tip_above_cap": "it tips the block engine {tip} lamports, more than your MEV tip of {cap} lamports",
    "transfers_above_need": "it moves {lamports} lamports out of your wallet, more than the trade needs",
    "takes_more_tokens": "it would take more tokens than you sell",
    "sol_short": "less SOL would arrive than the quote's minimum",
    "system_request": "it asks the System program for something a swap never needs",
    "sol_from_other_account": "it moves SOL out of an account that is not yours",
    "sends_to_stranger": "it sends {lamports} lamports of yours to {destination}, an account that is not yours",
    "hands_control": "it would hand control of a token account of yours to someone else",
    "token_account_request": "it asks the token-account program for something a swap never needs",
    "account_for_someone_else_paid_by_you": "it would create a token account for someone else, paid by you",
    "table_unreadable": "its lookup table {table} could not be read",
    "program_in_table": "it calls a program through a lookup table",
    "unknown_program": "it calls a program that is not a known swap program ({program})",
    "account_closed_or_handed": "your token account {address} would be closed or handed to someone else",
    "delegate_set": "it would let someone else spend your tokens",
    "close_authority_changed": "it would change who can close your token account",
    "account_for_someone_else": "it would create a token account someone else controls",
    "takes_other_tokens": "it would take tokens you did not sell",
    "sol_out_above_need":
        "{lamports} lamports would leave your wallet, more than the {fees} the trade and its fees need",
    "token_short": "the token you buy would not arrive, or less of it than the quote's minimum",
    "over_budget": "it asks for more than this trade needs, and more than it may take",
    "closes_to_stranger": "it closes a token account of yours and sends what is in it to someone else",
    "compute_budget_twice": "it sets its compute budget twice",
    "unlisted_accounts": "it refers to accounts it does not list",
    "entry_missing": "it refers to entry {index} of a lookup table that has {size}",
    "compute_budget_unknown": "it carries a compute-budget instruction this bot does not know",
}


@_words("swap_refused")
def _swap_refused(err: SwapRefused) -> str:
    finding = SWAP_FINDINGS.get(err.finding, "it does something a swap never needs").format(**err.facts)
    return (f"The swap service returned a transaction that would move funds you did not ask to move ({finding}), "
            "so nothing was signed and nothing moved. Your funds are safe; the operators have been alerted.")


@_words("swap_would_fail")
def _swap_would_fail(err: SwapWouldFail) -> str:
    if err.is_slippage:
        return ("The price moved more than your slippage allows, so the swap was not sent and nothing was spent. "
                "Try again, or raise your slippage in /settings.")
    if err.is_expired:
        return "The swap service returned an expired transaction, so nothing was signed. Please try again."
    if err.is_insufficient_funds:
        return ("Your wallet does not hold enough for this trade and its network fees, so nothing was sent. Check "
                "/wallet and /positions, then try a smaller amount.")
    return "The swap would fail on the network, so it was not sent and nothing was spent. Please try again."


fixed("wallet_busy", "Your wallet kept changing while this trade was being checked (other trades of yours "
                      "landing), so nothing was signed. Try again in a moment.")


@_words("setting_refused")
def _setting_refused(err: SettingRefused) -> str:
    if err.setting == "slippage":
        shown = plain(Decimal(err.maximum) / 100)
        return (f"Slippage above {shown}% is not allowed: that is the operator's maximum, because a wide slippage "
                f"lets a pool take most of a trade. Type at most {shown}, like 1.5. Nothing was changed.")
    if err.setting == "daily_spend":
        return (f"The daily spend cap cannot be above the operator's {sol(err.maximum)}. Type at most "
                f"{plain(lamports_to_sol(err.maximum))}, like 1. Nothing was changed.")
    if err.setting == "auto_buy":
        return (f"Auto-buy cannot be above your maximum trade size of {sol(err.maximum)}: every paste would be "
                f"refused. Type at most {plain(lamports_to_sol(err.maximum))}, like 0.1, or raise /set maxtrade first. "
                "Nothing was changed.")
    if err.setting == "mev_protection":
        return ("MEV protection is not available here: the operator has not configured a block engine to send "
                "protected trades to. Your trades go through the public network as before. Nothing was changed.")
    return f"That value is above the operator's maximum for {err.setting}. Nothing was changed."




# Money leaving: withdrawals, key export, the allow-list.

_PROTECTIONS = {"allowlist": ("allow-list", "/allowlist off"), "withdraw_delay": ("large-withdrawal delay",
                                                                                  "/withdrawdelay off")}


def _export_protected(err: WithdrawalError) -> str:
    names, commands = zip(*(_PROTECTIONS[name] for name in err.facts["protections"]), strict=True)
    verb = "are" if len(names) > 1 else "is"
    return (f"Key export is off while your withdrawal {' and '.join(names)} {verb} on: whoever holds the key could "
            "move your funds anywhere at once, around that protection. To export, turn it off first with "
            f"{' and '.join(commands)} (that takes effect after the safety delay), then send /exportkey again.")


_WITHDRAWAL: dict[WithdrawalError.Reason, Callable[[dict], str]] = {
    WithdrawalError.Reason.FROZEN: lambda f: "Withdrawals are paused on your account by the operators. Contact "
                                             "support.",
    WithdrawalError.Reason.EXPORT_FROZEN: lambda f: "Withdrawals and key export are paused on your account by the "
                                                    "operators. Contact support.",
    WithdrawalError.Reason.NOT_ALLOWLISTED: lambda f: (
        "That address is not on your withdrawal allow-list, so nothing was sent. Add it with /allowlist add "
        "<address> (it becomes usable after the safety delay), or send to an address already on the list "
        "(/allowlist)."),
    WithdrawalError.Reason.ALLOWLIST_PENDING: lambda f: (
        f"That address was added to your allow-list recently and can receive withdrawals from "
        f"{f['active_from']:%Y-%m-%d %H:%M} UTC. This delay protects you if someone else gets into your Telegram "
        "account. Nothing was sent."),
    WithdrawalError.Reason.ALREADY_ALLOWLISTED: lambda f: "That address is already on your allow-list. See it with "
                                                          "/allowlist.",
    WithdrawalError.Reason.OWN_ADDRESS_ALLOWLISTED: lambda f: "That is this bot wallet's own address. Add a wallet "
                                                              "you control elsewhere.",
    WithdrawalError.Reason.NOT_ON_ALLOWLIST: lambda f: "That address is not on your allow-list. See the list with "
                                                       "/allowlist.",
    WithdrawalError.Reason.ALLOWLIST_ALREADY_OFF: lambda f: "Your allow-list is already off.",
    WithdrawalError.Reason.REQUEST_EXPIRED: lambda f: "That withdrawal request has expired or was already answered; "
                                                      "nothing was sent. Send /withdraw again.",
    WithdrawalError.Reason.ALREADY_ANSWERED: lambda f: "That withdrawal was already answered; nothing more was sent. "
                                                       "See /wallet.",
    WithdrawalError.Reason.MISMATCH: lambda f: "That withdrawal does not match what you confirmed; nothing was sent. "
                                               "Send /withdraw again.",
    WithdrawalError.Reason.OWN_ADDRESS: lambda f: "That is this bot wallet's own address. Send to another wallet you "
                                                  "control.",
    WithdrawalError.Reason.NOT_A_WALLET: lambda f: (
        "That address is a program or a token account, not a wallet: SOL sent there could be lost for good. Send to "
        "the address your wallet app (Phantom, Solflare…) shows."),
    WithdrawalError.Reason.NOTHING_TO_WITHDRAW: lambda f: (
        f"There is nothing to withdraw: the balance is {sol(f['balance'])} and the network fee is {sol(f['fee'])}."),
    WithdrawalError.Reason.OVER_BALANCE: lambda f: (
        f"You can withdraw at most {sol(f['withdrawable'])} (balance {sol(f['balance'])} minus the {sol(f['fee'])} "
        "network fee). Type a smaller amount or 'all'."),
    WithdrawalError.Reason.DUST_LEFT: lambda f: (
        f"That would leave {sol(f['left'])}, below the {sol(f['rent'])} a Solana account must keep. Withdraw 'all', "
        "or leave at least that much."),
    WithdrawalError.Reason.DESTINATION_NEEDS_RENT: lambda f: (
        f"The destination account is empty, so it must receive at least {sol(f['rent'])} to exist. Send more."),
    WithdrawalError.Reason.NETWORK_REFUSED: lambda f: "The network refused the withdrawal; nothing was sent. Please "
                                                      "try again.",
    WithdrawalError.Reason.NOT_ANSWERING: lambda f: "The withdrawal was sent but the network is not answering; it "
                                                    "will be settled automatically. Check /wallet in a minute.",
    WithdrawalError.Reason.DID_NOT_GO_THROUGH: lambda f: "The withdrawal did not go through, so nothing was sent. "
                                                         "Please try again.",
}


@_words("withdrawal_refused")
def _withdrawal_refused(err: WithdrawalError) -> str:
    if err.reason is WithdrawalError.Reason.EXPORT_PROTECTED:
        return _export_protected(err)
    return _WITHDRAWAL[err.reason](err.facts)


# The second factor.

def _lock(facts: dict) -> str:
    until, now = facts["until"], facts["now"]
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return (f"Too many wrong codes: withdrawals, key export and code-guarded buys are locked until {until:%H:%M} UTC "
            f"(about {minutes} minute{'s' if minutes != 1 else ''}). Nothing was done.")


_CODE: dict[CodeRefused.Reason, Callable[[dict], str]] = {
    CodeRefused.Reason.LOCKED: _lock,
    CodeRefused.Reason.ALREADY_ON: lambda f: "Two-step verification is already on. To replace it, first turn it off "
                                             "with /2fa off.",
    CodeRefused.Reason.NO_SETUP: lambda f: "There is no set-up in progress. Send /2fa on to start again.",
    CodeRefused.Reason.SETUP_MISMATCH: lambda f: "That code does not match. Check that the app shows the account you "
                                                 "just added and type the 6 digits it shows now.",
    CodeRefused.Reason.ALREADY_USED: lambda f: "That code was already used, so nothing was done: each code works "
                                               "once. Wait for the next code in your authenticator app (at most 30 "
                                               "seconds) and type that one.",
    CodeRefused.Reason.WRONG_AND_LOCKED: lambda f: f"Wrong code, and that was {f['failures']} in a row. " + _lock(f),
    CodeRefused.Reason.WRONG: lambda f: (
        f"Wrong code, so nothing was done. {f['left']} more wrong code{'s' if f['left'] != 1 else ''} and "
        "withdrawals, key export and code-guarded buys lock for a while. Type the 6 digits your app shows now."),
}


@_words("code_refused")
def _code_refused(err: CodeRefused) -> str:
    return _CODE[err.reason](err.facts)


# Orders (positions.order_errors).
fixed("order_not_found", "That order is not yours, or it no longer exists. /orders lists your orders.")
fixed("order_firing_closed", "That order was already handled, so nothing was sent. /orders lists your orders.")


@_words("order_not_cancellable")
def _order_not_cancellable(err: OrderNotCancellable) -> str:
    if err.status == "firing":
        return "That order is trading right now and cannot be called back. You will be told how it ends."
    return f"That order is already {err.status}, so there is nothing to cancel. /orders lists your active orders."


@_words("too_many_orders")
def _too_many_orders(err: TooManyOrders) -> str:
    return (f"You already have {err.limit} active orders, the most allowed. Cancel some in /orders, then place this "
            "one again.")


_TRIGGER = {
    TriggerUnusable.Reason.NO_SUPPLY: "This token has no supply, so a market cap cannot become a price. Type a price "
                                      "in SOL per token instead, like 0.0004.",
    TriggerUnusable.Reason.NO_PRICE: "There is no price for this token right now, so the order has nothing to start "
                                     "from. Type a price in SOL per token instead (for /trail: add from <price>), or "
                                     "try again in a minute.",
    TriggerUnusable.Reason.OUT_OF_RANGE: "That price is beyond any token's. Check the number and type it in SOL per "
                                         "token, like 0.0004.",
    TriggerUnusable.Reason.NO_ENTRY_PRICE: "This position has no recorded entry price, so a multiple like 2x cannot "
                                           "be worked out. Type a price in SOL per token instead.",
    TriggerUnusable.Reason.ALREADY_MET: "The price is already past that trigger, so the order would fire at once. "
                                        "Use /buy or /sell to trade now, or choose a trigger beyond the price now.",
}


@_words("order_trigger_unusable")
def _trigger_unusable(err: TriggerUnusable) -> str:
    return _TRIGGER[err.reason]
