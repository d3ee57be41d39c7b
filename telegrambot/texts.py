"""Everything the bot says. Amount formatting lives here, never in services. Output is Telegram HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from html import escape

from custody.money_out import WithdrawalRequest
from custody.withdrawals import WithdrawalResult
from kernel.display import plain, sol, tokens
from kernel.errors import UserFacingError
from positions.models import THRESHOLD_OFF
from positions.paper import SIGNATURE_PREFIX as PAPER_PREFIX
from positions.paper import PaperResults
from positions.rational import to_sol_per_token
from positions.sale_estimate import SaleEstimate
from positions.selectors import PortfolioView, PositionView
from positions.trading import BuyResult, SellResult, Step
from telegrambot import refusals, setting_words
from telegrambot.parsing import EXAMPLE_MINT
from telegrambot.refusals import refusal
from wallets.models import FeeLevel, UserSettings

EXPLORER_TX = "https://solscan.io/tx/{}"


def signed_sol(lamports: int) -> str:
    return ("+" if lamports > 0 else "") + sol(lamports)


def percent(value: Decimal | None) -> str:
    return "off" if value is None else f"{plain(value)}%"


def short(address: str) -> str:
    return f"{address[:4]}…{address[-4:]}"


def code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def tx_link(signature: str) -> str:
    if signature.startswith(PAPER_PREFIX):  # a paper trade's reference: there is no transaction to view
        return "📝 Paper trade: nothing was signed or sent."
    return f'<a href="{EXPLORER_TX.format(signature)}">View transaction</a>'


# On every screen while the trader is on paper (``handlers.common.reply`` and ``edit`` put it first).
PAPER_BANNER = "📝 <b>PAPER MODE</b> · trades use virtual SOL · /paper\n\n"
PAPER_USAGE = ("Usage: /paper (your paper results), /paper on (trade with virtual SOL at real prices), /paper off "
               "(back to real SOL; asks first) or /paper reset (start the paper book again).")
PAPER_ALREADY_ON = "Paper trading is already on. /paper shows your paper results; /paper off goes back to real SOL."
PAPER_ALREADY_OFF = "Paper trading is already off: your trades use real SOL. /paper on turns it on."
PAPER_ONLY_BOT = ("This bot runs on paper only (its operator set PAPER_TRADING): real trading cannot be turned on "
                  "here. /paper shows your paper results.")
PAPER_OFF = ("💰 <b>Paper trading is off.</b> From now on your trades spend <b>real SOL</b> from your wallet. "
             "Your paper positions and orders are kept (they come back with /paper on).")


def _paper_book(results: PaperResults) -> str:
    lines = [f"Paper balance: <b>{sol(results.balance_lamports)}</b> (started with {sol(results.start_lamports)})",
             f"Paper trades: {results.trades} · Realized PnL: {signed_sol(results.realized_pnl_lamports)}",
             f"Open paper positions: {results.open_positions} (cost {sol(results.open_cost_lamports)})"
             + (f" · Active paper orders: {results.active_orders}" if results.active_orders else "")]
    return "\n".join(lines)


def paper_status(*, on: bool, results: PaperResults, operator: bool) -> str:
    if on:
        how = ("The whole bot runs on paper (set by its operator)." if operator else
               "/paper off goes back to real SOL.")
        return f"<b>Paper trading is on.</b> {how}\n\n{_paper_book(results)}"
    return ("<b>Paper trading is off</b>: your trades use real SOL.\n\n"
            "/paper on lets you try every feature (buys, sells, stop loss, take profit, orders) at real prices "
            "with virtual SOL: each trade is quoted and checked like a real one, but never signed or sent. "
            "/paper reset starts the paper book again.\n\n"
            + _paper_book(results))


def paper_on(results: PaperResults) -> str:
    return ("📝 <b>Paper trading is on.</b> Your trades are quoted and checked at real prices, then filled with "
            "virtual SOL: nothing is signed or sent. Stop loss, take profit and orders work as they do for real.\n"
            "Positions and orders you already had with real SOL are not part of it: their stop losses and orders "
            "keep trading real SOL.\n\n" + _paper_book(results) + "\n\n/paper off goes back to real SOL.")


def paper_reset(before: PaperResults, after: PaperResults) -> str:
    return (f"📝 <b>Paper book reset.</b> It had {sol(before.balance_lamports)} after {before.trades} paper trade"
            f"{'s' if before.trades != 1 else ''} (realized PnL {signed_sol(before.realized_pnl_lamports)}); it starts "
            f"again with <b>{sol(after.balance_lamports)}</b>.")


def confirm_paper_off(results: PaperResults) -> str:
    return ("<b>Back to real money?</b> Your paper results so far:\n\n" + _paper_book(results) + "\n\n"
            "After this, buys and sells spend <b>real SOL</b> from your wallet. Paper positions and orders are kept "
            "for when you come back (/paper on), and their stop losses and orders go on firing on paper.")


def welcome(*, public_key: str, balance_lamports: int | None, created: bool, paper_balance: int | None = None) -> str:
    greeting = "Welcome! Your trading wallet is ready." if created else "Welcome back!"
    if paper_balance is not None:
        return (f"<b>{greeting}</b>\n\n"
                f"You are trading on paper, with a virtual balance of <b>{sol(paper_balance)}</b> at real prices: "
                "nothing is signed or sent. Paste a token's mint address to trade it, or use the buttons below.\n\n"
                f"Your real wallet (deposit address, tap to copy):\n{code(public_key)}\n"
                f"Balance: {_balance(balance_lamports)}")
    return (f"<b>{greeting}</b>\n\n"
            f"Deposit address (tap to copy):\n{code(public_key)}\n\n"
            f"Balance: {_balance(balance_lamports)}\n\n"
            "Send SOL to this address to start trading. Paste a token's mint address to trade it, or use the "
            "buttons below.")


def _balance(lamports: int | None) -> str:
    return sol(lamports) if lamports is not None else "unavailable right now (network busy)"


HELP = (
    "<b>Trading</b>\n"
    "/buy &lt;mint&gt; &lt;SOL&gt; — buy a token, e.g. /buy DezX…B263 0.1\n"
    "/sell &lt;mint&gt; &lt;all | amount | N%&gt; — sell all or part, e.g. /sell DezX…B263 50%\n"
    "Paste a mint address on its own to see the token with buy buttons.\n"
    "/positions — what you hold, with profit and loss\n"
    "/sl &lt;mint&gt; &lt;N% | off | default&gt;, /tp &lt;mint&gt; &lt;N% | off | default&gt; — stop loss / take "
    "profit for one position\n\n"
    "<b>Orders</b>\n"
    "/limit &lt;mint&gt; buy &lt;SOL&gt; at &lt;price | mcap 50k | -20%&gt; [for 24h] — buy when the price falls "
    "to it\n"
    "/limit &lt;mint&gt; sell &lt;all | N% | tokens&gt; at &lt;price | mcap 1m | 2x&gt; [for 24h] — sell when it "
    "rises to it (several make a ladder)\n"
    "/trail &lt;mint&gt; &lt;N%&gt; [from &lt;price&gt;] — sell when the price falls N% below its highest\n"
    "/dca &lt;mint&gt; &lt;SOL total&gt; &lt;parts&gt; every &lt;30m | 1h | 1d&gt; — buy in parts "
    "(or /dca &lt;mint&gt; sell all &lt;parts&gt; every &lt;interval&gt;)\n"
    "/orders — your orders, with Cancel buttons\n"
    "Prices are in SOL per token; market caps in SOL.\n\n"
    "<b>Wallet</b>\n"
    "/wallet — address and balances\n"
    "/withdraw &lt;address&gt; &lt;SOL | all&gt; — send SOL out (asks to confirm)\n"
    "/exportkey — show your private key (asks to confirm; deleted after 60 s)\n\n"
    "<b>Paper trading</b>\n"
    "/paper on — try everything at real prices with virtual SOL: nothing is signed or sent · /paper off — back to "
    "real SOL (shows your paper results and asks first) · /paper — your paper results · /paper reset — start "
    "the paper book again\n\n"
    "<b>Protection</b>\n"
    "/2fa on — two-step verification: withdrawals and key export ask for a code from your authenticator app\n"
    "/allowlist add &lt;address&gt; — only allow withdrawals to your own addresses (new ones wait 24 h)\n"
    "/withdrawdelay &lt;SOL | off&gt; — withdrawals above this wait 2 h and can be cancelled\n"
    "With any of these on, loosening a trading setting (slippage, max trade, snipe, confirmations, daily spend, "
    "auto-buy) waits 24 h; /set buycode &lt;SOL | off&gt; asks for a code for larger buys\n\n"
    "<b>Settings</b>\n"
    "/settings — slippage, limits, daily spend cap, stop loss, take profit, sniping, priority fee and fee level\n"
    "/set &lt;name&gt; &lt;value&gt; — e.g. /set slippage 1.5; /set autobuy &lt;SOL | off&gt; buys a pasted token "
    "address at once\n\n"
    "/start — main menu · /help — this list"
)

SERVICE_PROBLEM = "Something went wrong on our side; nothing was changed. Please try again in a minute."
THROTTLED = "You are sending commands too fast. Wait a few seconds and try again."
TRADE_IN_PROGRESS = "A trade of yours is still running. Wait for it to finish, then try again."
NOT_YOURS = "That button is not for you, or it has expired. Use /positions or /start for fresh buttons."
EXPIRED_BUTTON = "That button has expired. Run the command again for a fresh one."
ADMIN_ONLY = "Admin only."
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
FREE_TEXT = ("I didn't understand that. Paste a token mint address to trade it, or use /help to see the "
             "commands.")
TOO_LONG = "That message is too long for me to read. Send a command like /help, or a mint address."
NO_POSITIONS = "You have no open positions. Paste a token mint address or use /buy to open one."
# Where the bot does not act: outside a private chat with the user, on an edited message, on a non-text message.
PRIVATE_ONLY = "I only work in a private chat with you. Open a private chat with me to trade or see your wallet."
EDITS_NOT_ACTED = "I don't act on edited messages. Send the command again as a new message."
NOT_TEXT = ("I only read text, and a mint address as a photo's caption. Type a command (/help lists them) or paste "
            "a token's mint address.")


def token_card(*, mint: str, decimals: int, price_sol: Decimal | None, held_raw: int, supply_raw: int,
               screening=None, settings: UserSettings | None = None) -> str:
    price = f"{plain(price_sol.quantize(Decimal('0.000000001')))} SOL" if price_sol is not None else "no price"
    check = ""
    if screening is not None:
        mark = "✅" if screening.ok and not screening.warnings else ("⚠️" if screening.ok else "⛔")
        check = f"Safety check: {mark} {escape(screening.summary())}\n"
    ending = "Choose an amount to buy:" if screening is None or screening.ok else "Buying this token is refused."
    return (f"<b>Token</b> {code(mint)}\n"
            f"Price: {price} per token\n"
            f"Supply: {tokens(supply_raw, decimals)} · decimals {decimals}\n"
            f"You hold: {tokens(held_raw, decimals)}\n"
            f"{_fee_line(settings)}{check}\n{ending}")


def _fee_line(settings: UserSettings | None) -> str:
    """The priority fee a buy would offer: the trader's fixed amount, or their market level and its ceiling; with MEV
    protection on, the tip it pays the block engine instead."""
    if settings is None:
        return ""
    if settings.mev_protection:
        return f"MEV protection: on, tip {sol(settings.jito_tip_lamports)} instead of a priority fee (/settings)\n"
    level = settings.priority_fee_level
    if level == FeeLevel.FIXED:
        return f"Priority fee: {sol(settings.priority_fee_lamports)}\n"
    return f"Priority fee: {FEE_LEVEL_WORDS[level]}, at most {sol(settings.priority_fee_lamports)} (/settings)\n"


def confirm_buy(*, mint: str, lamports: int, slippage_bps: int, needs_code: bool = False,
                paper: bool = False) -> str:
    text = (f"{'Paper-buy' if paper else 'Buy'} {code(mint)} for <b>{sol(lamports)}</b>"
            f"{' (virtual SOL)' if paper else ''} with up to {plain(Decimal(slippage_bps) / 100)}% slippage?")
    return text + ("\n🔐 After you confirm, I will ask for the code from your authenticator app." if needs_code else "")


def auto_buy(*, mint: str, lamports: int) -> str:
    return (f"⚡ Auto-buy: buying {code(mint)} for <b>{sol(lamports)}</b>, your auto-buy amount, with the usual "
            "checks. To see the token card instead, turn it off with /set autobuy off.")


ASK_BUY_CODE = ("🔐 This buy is above the level you set for a code (/settings). Type the 6-digit code from your "
                "authenticator app to buy; anything else cancels it.")


def confirm_sell(*, mint: str, amount: str, costly: SaleEstimate | None = None, paper: bool = False) -> str:
    question = f"{'Paper-sell' if paper else 'Sell'} <b>{escape(amount)}</b> of {code(mint)}?"
    if costly is None:
        return question
    return (f"⚠️ This sale would bring in about {sol(costly.proceeds_lamports)}, but the network fee is up to "
            f"{sol(costly.fee_lamports)}: you would end up with less SOL than before.\n{question}")


def progress(step: str) -> str:
    return f"⏳ {escape(step)}"


def buy_done(result: BuyResult) -> str:
    back = "returned when you sell it all" if result.rent_comes_back else "kept in the account after you sell"
    rent = (f"Also {sol(result.rent_paid_lamports)} rent for the token account, {back}.\n"
            if result.rent_paid_lamports else "")
    return (f"✅ <b>{'Paper-bought' if result.paper else 'Bought'}</b> {tokens(result.received_raw, result.decimals)} "
            f"of {code(result.mint)}{_paper_fill(result)}\n"
            f"Spent {sol(result.lamports_in)} + {sol(result.fee_lamports)} network fee{_at_level(result)}"
            f"{_tip(result, ' + ')}.\n"
            f"{rent}{tx_link(result.signature)}")


def sell_done(result: SellResult) -> str:
    state = "Position closed." if result.position_closed else \
        f"Still holding {tokens(result.remaining_raw, result.decimals)}."
    rent = (f"The token account is closed: its {sol(result.rent_returned_lamports)} rent is back in your wallet.\n"
            if result.rent_returned_lamports else "")
    if result.paper and result.rent_returned_lamports:
        rent = f"The token account's {sol(result.rent_returned_lamports)} rent is back in your paper balance.\n"
    return (f"✅ <b>{'Paper-sold' if result.paper else 'Sold'}</b> {tokens(result.sold_raw, result.decimals)} of "
            f"{code(result.mint)}{_paper_fill(result)}\n"
            f"Received {sol(result.lamports_out)} (network fee {sol(result.fee_lamports)}{_at_level(result)}"
            f"{_tip(result, ', ')}).\n"
            f"Realized PnL: {signed_sol(result.realized_pnl_lamports)}. {state}\n"
            f"{rent}{tx_link(result.signature)}")


def _paper_fill(result: BuyResult | SellResult) -> str:
    """How a paper trade was filled: at the real quote, the swap built and checked (simulated when the wallet could
    pay for it), never sent."""
    if not result.paper:
        return ""
    checked = "built, checked and simulated" if result.simulated else "built and checked"
    return f"\n<i>On paper: filled at the real quote once the swap was {checked}.</i>"


def _at_level(result: BuyResult | SellResult) -> str:
    """The fee level a trade used, when it was the market's rather than the trader's fixed fee."""
    if result.priority_fee_level == FeeLevel.FIXED or result.protected:
        return ""
    return f", {FEE_LEVEL_WORDS[result.priority_fee_level]}"


def _tip(result: BuyResult | SellResult, joiner: str) -> str:
    """MEV protection's tip, a cost of the trade like the network fee."""
    if not result.protected and not result.tip_lamports:
        return ""
    return f"{joiner}{sol(result.tip_lamports)} MEV tip (sent privately)"


FEE_LEVEL_WORDS = {FeeLevel.FIXED: "fixed", FeeLevel.FAST: "fast", FeeLevel.TURBO: "turbo"}


def trade_failed(message: str, signature: str = "") -> str:
    link = f"\n{tx_link(signature)}" if signature else ""
    return f"❌ {escape(message)}{link}"


def settled_later(settled) -> str:
    """The outcome of a trade or withdrawal the trader was told would be settled once the network answered."""
    if settled.kind == "withdrawal":
        what = f"Your withdrawal of {sol(settled.lamports)} to {code(settled.subject)}"
        outcome = ("has landed." if settled.confirmed else
                   "did not go through. The SOL is still in your wallet (at most the network fee was spent).")
    else:
        what = f"Your {settled.kind} of {code(settled.subject)}, which was waiting for the network,"
        outcome = ("has landed. See /positions." if settled.confirmed else
                   f"did not go through: nothing was {'bought' if settled.kind == 'buy' else 'sold'} (at most the "
                   "network fee was spent). Try again if you still want it.")
    return f"{'✅' if settled.confirmed else '❌'} {what} {outcome}\n{tx_link(settled.signature)}"


def refused(message: str) -> str:
    return f"⚠️ {escape(message)}"


def positions(view: PortfolioView, snipes=None, *, shown: list[PositionView] | None = None,
              first_index: int = 1, page: int = 1, pages: int = 1, paper_balance: int | None = None) -> str:
    """One book's positions: the real one, or the paper one (``paper_balance`` given) with its virtual SOL."""
    snipes_text = recent_snipes(snipes)
    book = f"Paper balance: <b>{sol(paper_balance)}</b>" if paper_balance is not None else ""
    realized = (f"Realized PnL ({'this paper book' if paper_balance is not None else 'all time'}): "
                f"{signed_sol(view.realized_pnl_lamports)}")
    if not view.positions:
        text = NO_POSITIONS + "\n\n" + realized
        return "\n\n".join(filter(None, [text, book, snipes_text]))
    shown = view.positions if shown is None else shown
    title = "<b>Your paper positions</b>" if paper_balance is not None else "<b>Your positions</b>"
    if pages > 1:
        last = first_index + len(shown) - 1
        title += f" — {first_index}–{last} of {len(view.positions)} (page {page} of {pages})"
    lines = [title]
    for index, position in enumerate(shown, start=first_index):
        lines.append(_position_block(index, position))
    if pages > 1:
        total_value = sum(p.value_lamports or 0 for p in view.positions)
        lines.append(f"All {len(view.positions)} positions: value {sol(total_value)}. "
                     + (f"/positions {page + 1} for the next page." if page < pages else "This is the last page."))
    if not view.prices_available:
        lines.append("Prices are unavailable right now; values will return shortly.")
    lines.append(realized)
    return "\n\n".join(filter(None, [*lines, book, snipes_text]))


def _position_block(index: int, position: PositionView) -> str:
    amount = tokens(position.remaining_raw, position.decimals)
    header = (f"{index}. {code(position.mint)}\nAmount: {amount} · Cost: {sol(position.remaining_cost_lamports)}\n"
              f"Stop loss: {percent(position.stop_loss)} · Take profit: {percent(position.take_profit)}")
    if position.value_lamports is None:
        return header + "\nValue: no price"
    pnl = position.unrealized_pnl_lamports
    pct = position.unrealized_pnl_percent
    pct_text = f" ({'+' if pct and pct > 0 else ''}{plain(pct)}%)" if pct is not None else ""
    return (header + f"\nValue: {sol(position.value_lamports)} · PnL: {signed_sol(pnl)}{pct_text}"
            + (f"\nRealized: {signed_sol(position.realized_pnl_lamports)}" if position.realized_pnl_lamports else ""))


def wallet(*, public_key: str, balance_lamports: int | None, holdings: list[tuple[str, str]],
           scheduled: list | None = None, paper_balance: int | None = None) -> str:
    lines = [f"<b>Wallet</b>\n{code(public_key)}", f"SOL: {_balance(balance_lamports)}"]
    if paper_balance is not None:
        lines.append(f"Paper balance: <b>{sol(paper_balance)}</b> (virtual SOL, apart from the real SOL above)")
    if holdings:
        lines.append("<b>Tokens</b>\n" + "\n".join(f"{code(mint)}: {amount}" for mint, amount in holdings))
    if scheduled:
        lines.append("<b>Delayed withdrawals</b> (not sent yet; the buttons below cancel them)\n" + "\n".join(
            f"{index}. {sol(w.lamports)} to {code(w.destination)}, at {w.execute_after:%Y-%m-%d %H:%M} UTC"
            + (" (held by staff)" if w.held_at else "") for index, w in enumerate(scheduled, 1)))
    return "\n\n".join(lines)


def confirm_withdrawal(request: WithdrawalRequest, *, paper: bool = False) -> str:
    """``paper``: the trader is on paper, which covers trades only: this withdrawal is real, and says so."""
    plan, delay_seconds = request.plan, request.delay_seconds
    lines = [f"<b>Withdraw {sol(plan.lamports)}</b>" + (" of <b>real SOL</b>" if paper else ""),
             f"To: {code(plan.destination)}",
             f"Network fee: {sol(plan.fee_lamports)}",
             f"Balance after: {sol(plan.balance_lamports - plan.lamports - plan.fee_lamports)}", "",
             "Check the destination carefully: a transfer cannot be undone."]
    if paper:
        lines.append("⚠️ Paper mode covers trades only: this withdrawal sends real SOL from your wallet.")
    if delay_seconds is not None:
        lines.append(f"⏳ With your withdrawals of the last 24 hours, this goes over your large-withdrawal threshold, "
                     f"so it will wait {duration(delay_seconds)} before it is sent; you can cancel it until then.")
    if request.two_factor:
        lines.append("🔐 After you confirm, I will ask for the code from your authenticator app.")
    elif request.first_withdrawal:
        lines.append("💡 Tip: turn on two-step verification with /2fa on, so nobody who gets into your Telegram "
                     "can withdraw or see your key without your phone.")
    return "\n".join(lines)


def duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{max(minutes, 1)} min" if seconds >= 60 else f"{seconds} s"


def withdrawal_scheduled(withdrawal) -> str:
    return (f"⏳ <b>Withdrawal delayed</b>: {sol(withdrawal.lamports)} to {code(withdrawal.destination)} will be sent "
            f"at {withdrawal.execute_after:%Y-%m-%d %H:%M} UTC.\n"
            "Nothing has left your wallet yet. If you did not ask for this, press Cancel now and turn on /2fa.")


def scheduled_withdrawal_done(result: WithdrawalResult) -> str:
    return "Your delayed withdrawal was sent.\n" + withdrawal_done(result)


def scheduled_withdrawal_failed(withdrawal, reason: str) -> str:
    return (f"⚠️ Your delayed withdrawal of {sol(withdrawal.lamports)} to {code(withdrawal.destination)} was not "
            f"sent: {escape(reason)}")


ASK_CODE = "🔐 Type the 6-digit code from your authenticator app."
ASK_SETUP_CODE = ("Add the key above to your authenticator app (Google Authenticator, Authy, 1Password, Aegis…), "
                  "then type the 6-digit code it shows to finish.")
CODE_PURPOSE = {"withdraw": "withdrawal", "export": "key export", "totp_off": "switch-off",
                "totp_setup": "set-up", "buy": "buy"}
TWO_FACTOR_ON = ("✅ Two-step verification is on. Withdrawals, key export and turning it off now ask for a code. "
                 "The set-up message was deleted.")
TWO_FACTOR_ON_SETUP_NOT_DELETED = ("✅ Two-step verification is on. Withdrawals, key export and turning it off now "
                                   "ask for a code. The set-up message could not be deleted yet; the bot keeps "
                                   "trying. Delete it yourself now if you can.")
TWO_FACTOR_OFF = "Two-step verification is off. /2fa on turns it back on."


def code_request_expired(kind: str) -> str:
    return refused(f"That request expired, so the {CODE_PURPOSE[kind]} was not done. Start again.")


def not_a_code(kind: str) -> str:
    return refused(f"That is not a 6-digit code, so the {CODE_PURPOSE[kind]} was cancelled and nothing was done. "
                   "Start again when you have your authenticator app at hand.")


TWO_FACTOR_ALREADY_ON = "Two-step verification is already on. /2fa off turns it off (it asks for a code)."
TWO_FACTOR_ALREADY_OFF = "Two-step verification is already off. /2fa on turns it on."
TWO_FACTOR_USAGE = "Usage: /2fa (status), /2fa on (set up an authenticator app) or /2fa off."
WITHDRAWAL_CANCELLED = "Cancelled: the withdrawal will not be sent and nothing left your wallet."
WITHDRAWAL_NOT_CANCELLABLE = "That withdrawal can no longer be cancelled (or the button is not yours). See /wallet."


def allowlist_removed(address: str) -> str:
    return f"Removed {code(address)} from your allow-list."


def two_factor_status(enabled: bool, reset_after: datetime | None = None) -> str:
    if enabled and reset_after is not None:
        return ("🔐 Two-step verification is <b>on</b>, but staff asked to turn it off: that happens at "
                f"{_utc(reset_after)}. " + _RESET_NOT_YOU)
    if enabled:
        return ("🔐 Two-step verification is <b>on</b>: withdrawals, key export and buys above the levels you set "
                "(/set buycode, /set buycodeslippage) ask for a code from your authenticator app. /2fa off turns it "
                "off (asks for a code).")
    return ("Two-step verification is <b>off</b>. Turn it on with /2fa on: then nobody who gets into your Telegram "
            "can withdraw or see your key without the code from your phone.")


_RESET_NOT_YOU = ("If you did not ask support for this, contact support now: they can cancel it before then, and "
                  "freeze your account meanwhile.")


def staff_notice(kind: str, detail: dict) -> str:
    """A message the admin queued for the user (custody.notices), by its kind."""
    if kind == "totp_reset_requested":
        at = datetime.fromisoformat(detail["at"])
        return ("⚠️ Staff asked to turn off two-step verification on your account (a reset, for a lost "
                f"authenticator). It takes effect at {_utc(at)}; until then your codes are still needed. "
                + _RESET_NOT_YOU)
    if kind == "totp_reset_cancelled":
        return "✅ The staff request to turn off your two-step verification was cancelled. It stays on."
    if kind == "totp_reset_applied":
        return ("Two-step verification was turned off on your account, as staff requested 24 hours ago. Turn it on "
                "again with /2fa on.")
    if kind == "order_cancelled":
        return (f"Staff cancelled your order #{detail['order']}: {escape(detail['what'])} of "
                f"{escape(short(detail['mint']))} at {escape(detail['trigger'])}. Nothing was traded for it. /orders "
                "lists the ones you still have.")
    raise ValueError(f"unknown notice kind {kind!r}")


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def two_factor_setup(secret_base32: str, uri: str, seconds: int) -> str:
    return (f"🔐 <b>Authenticator set-up key</b>\n<code>{escape(secret_base32)}</code>\n"
            f"Or open this link on your phone: <code>{escape(uri)}</code>\n\n"
            f"Type 6 digits / time-based. This message deletes itself in {seconds} seconds.")


ALLOWLIST_USAGE = ("Usage: /allowlist (show it), /allowlist add <address> [label], /allowlist remove <address>, "
                   "/allowlist off")
WITHDRAW_DELAY_USAGE = ("Usage: /withdrawdelay <SOL> — withdrawals above this amount wait before they are sent — "
                        "or /withdrawdelay off. For example: /withdrawdelay 5")
WITHDRAW_DELAY_ZERO = "The threshold must be more than 0 SOL, or 'off'. " + WITHDRAW_DELAY_USAGE


def allowlist(view, now) -> str:
    if not view.allowlist_on:
        return ("Your withdrawal allow-list is <b>off</b>: withdrawals can go to any address.\n"
                "/allowlist add &lt;address&gt; turns it on; new addresses become usable after a safety delay.")
    lines = ["<b>Withdrawal allow-list: on</b> — withdrawals go only to these addresses:"]
    for entry in view.addresses:
        state = "usable" if entry.active_from <= now else f"usable from {entry.active_from:%Y-%m-%d %H:%M} UTC"
        label = f" ({escape(entry.label)})" if entry.label else ""
        lines.append(f"• {code(entry.address)}{label}: {state}")
    if not view.addresses:
        lines.append("(none: every withdrawal is refused until you add one)")
    if view.allowlist_off_at:
        lines.append(f"Switching off at {view.allowlist_off_at:%Y-%m-%d %H:%M} UTC, as you asked.")
    return "\n".join(lines)


def allowlist_added(entry) -> str:
    return (f"Added {code(entry.address)} to your withdrawal allow-list. It can receive withdrawals from "
            f"<b>{entry.active_from:%Y-%m-%d %H:%M} UTC</b>; until then, and to any other address, withdrawals are "
            "refused. If you did not do this, turn on /2fa and contact support.")


def allowlist_off(when) -> str:
    return (f"Your allow-list switches off at <b>{when:%Y-%m-%d %H:%M} UTC</b> (a safety delay). Until then it "
            "still applies. Adding an address cancels the switch-off.")


def withdraw_delay_status(view, delay_seconds: int) -> str:
    if view.threshold_lamports is None:
        text = "No large-withdrawal delay is set: withdrawals are sent at once."
    else:
        text = (f"Withdrawals that take more than <b>{sol(view.threshold_lamports)}</b> out within 24 hours wait "
                f"{duration(delay_seconds)} and can be cancelled meanwhile.")
    if view.pending_threshold:
        value, when = view.pending_threshold
        shown = "off" if value is None else sol(value)
        text += f"\nChanging to {shown} at {when:%Y-%m-%d %H:%M} UTC."
    return text + "\n" + escape(WITHDRAW_DELAY_USAGE)


def withdraw_delay_set(lamports: int | None, when, delay_seconds: int) -> str:
    shown = "off" if lamports is None else f"above {sol(lamports)}"
    if when is None:
        return (f"Done: withdrawals {shown} (counting the last 24 hours) now wait {duration(delay_seconds)} before "
                "they are sent, and you can cancel them meanwhile.")
    return (f"Loosening your protection waits for safety: the large-withdrawal delay becomes <b>{shown}</b> at "
            f"{when:%Y-%m-%d %H:%M} UTC. Until then the current setting applies.")


def withdrawal_done(result: WithdrawalResult) -> str:
    return (f"✅ Sent {sol(result.lamports)} to {code(result.destination)} (fee {sol(result.fee_lamports)}).\n"
            f"{tx_link(result.signature)}")


def export_warning(seconds: int) -> str:
    return ("⚠️ <b>Your private key gives full control of this wallet.</b>\n"
            "Anyone who sees it can take everything in it. Never share it, never paste it into a website. "
            f"The message with the key deletes itself after {duration(seconds)}.\n\nShow it now?")


def exported_key(secret: str, seconds: int) -> str:
    return (f"Your private key (import it into Phantom or Solflare):\n<tg-spoiler>{escape(secret)}</tg-spoiler>\n\n"
            f"This message deletes itself in {seconds} seconds.")


KEY_DELETED = "The message with your private key was deleted."


def settings(view) -> str:
    """The settings screen: values in force, what is waiting for the safety delay, and what just came into force."""
    values = view.settings
    slippage = f"{plain(Decimal(values.slippage_bps) / 100)}%"
    if values.slippage_bps > view.max_slippage_bps:
        slippage += f" (used as {plain(Decimal(view.max_slippage_bps) / 100)}%, the operator's maximum)"
    lines = ["<b>Settings</b>",
             f"Slippage: {slippage}",
             f"Max trade size: {sol(values.max_trade_size_lamports)}",
             f"Daily loss limit: {sol(values.daily_loss_limit_lamports)}",
             f"Daily spend cap: {sol(view.spend_cap_lamports)} (spent in the last 24 h: {sol(view.spent_lamports)})",
             f"Stop loss: {percent(values.stop_loss_percentage)}",
             f"Take profit: {percent(values.take_profit_percentage)}",
             f"Sniping: {'on' if values.snipe_enabled else 'off'} · amount {sol(values.snipe_amount_lamports)}",
             f"Priority fee: {sol(values.priority_fee_lamports)}{_fee_cap(values)}",
             f"Fee level: {setting_value('fee_level', values.priority_fee_level)}",
             f"MEV protection: {'on' if values.mev_protection else 'off'} · tip {sol(values.jito_tip_lamports)}",
             f"Confirm trades: {'on' if values.confirm_trades else 'off'}",
             f"Auto-buy on paste: {setting_value('auto_buy', values.auto_buy_lamports)}",
             f"Code for buys: {_buy_code(values, view.two_factor)}"]
    if view.pending:
        lines += ["", "<b>Waiting for the safety delay</b> (the buttons below cancel them):"]
        lines += [f"• {escape(_setting_label(p.setting))} → {setting_value(p.setting, p.value)} at "
                  f"{p.effective_at:%Y-%m-%d %H:%M} UTC" for p in view.pending]
    if view.applied:
        lines += ["", settings_applied(view.applied)]
    lines += ["", "Tap a setting to change it, or type /set &lt;name&gt; &lt;value&gt;."]
    return "\n".join(lines)


def _buy_code(values: UserSettings, two_factor: bool) -> str:
    rules = []
    if values.buy_code_above_lamports is not None:
        rules.append(f"above {sol(values.buy_code_above_lamports)}")
    if values.buy_code_slippage_bps is not None:
        rules.append(f"at a slippage above {plain(Decimal(values.buy_code_slippage_bps) / 100)}%")
    if not rules:
        return "never"
    return " or ".join(rules) + ("" if two_factor else " (only once /2fa is on)")


def _fee_cap(values: UserSettings) -> str:
    return "" if values.priority_fee_level == FeeLevel.FIXED else " at most"


def setting_value(key: str, value) -> str:
    """A setting's value as the trader typed it."""
    if key == "fee_level":
        return {FeeLevel.FIXED: "fixed (your priority fee on every trade)",
                FeeLevel.FAST: "fast (the market's 75th percentile, up to your priority fee)",
                FeeLevel.TURBO: "turbo (the market's 95th percentile, up to your priority fee)"}.get(value, str(value))
    if value is None:
        return {"daily_spend": "the operator's cap"}.get(key, "off")
    if isinstance(value, bool):
        return "on" if value else "off"
    if key in ("slippage", "buy_code_slippage"):
        return f"{plain(Decimal(value) / 100)}%"
    if key in ("stop_loss", "take_profit"):
        return percent(value)
    return sol(value)


def _setting_label(key: str) -> str:
    return setting_words.label(key)


def setting_saved(label: str) -> str:
    return f"✅ {escape(label)} saved."


def setting_delayed(label: str, change) -> str:
    return (f"🕒 <b>{escape(label)}: {setting_value(change.key, change.value)}</b> loosens your protection, so it "
            f"waits for safety: it takes effect at <b>{change.effective_at:%Y-%m-%d %H:%M} UTC</b>. Until then "
            f"{setting_value(change.key, change.before)} applies, and nothing is traded at the new value.\n"
            "You have two-step verification, an allow-list or a withdrawal delay on: trades can move money out too, "
            "so they are guarded alike. If you did not ask for this, press Cancel and check /2fa.")


def settings_applied(changes) -> str:
    return "✅ <b>Now in effect</b> (the safety delay has passed):\n" + "\n".join(
        f"• {escape(_setting_label(c.key))}: {setting_value(c.key, c.value)}" for c in changes)


def pending_cancelled(label: str, cancelled: bool) -> str:
    if cancelled:
        return f"Cancelled: {escape(label)} stays as it is."
    return f"There is no waiting change of {escape(label.lower())} to cancel (it may already be in effect)."


def metrics(*, uptime_seconds: float, succeeded: int, failed: int, rpc_requests: int, open_positions: int,
            users: int, switches: list[tuple[str, str]] = ()) -> str:
    finished = succeeded + failed
    rate = f"{Decimal(succeeded * 100) / finished:.1f}%" if finished else "n/a (no trades yet)"
    hours, rest = divmod(int(uptime_seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return ("<b>Bot metrics</b>\n"
            f"Uptime: {hours}h {minutes}m {seconds}s\n"
            f"Trades succeeded: {succeeded}\n"
            f"Trades failed: {failed}\n"
            f"Success rate: {rate}\n"
            f"RPC requests (this process): {rpc_requests}\n"
            f"Open positions: {open_positions}\n"
            f"Users: {users}\n"
            + ("Kill switches: " + "; ".join(f"{action} paused for {escape(scope)}" for action, scope in switches)
               if switches else "Kill switches: none (everything runs)"))


def rule_fired(trigger) -> str:
    watched = trigger.watched
    stop = trigger.rule.value == "stop loss"
    threshold = watched.stop_loss if stop else watched.take_profit
    rule = f"{'Paper ' if watched.paper else ''}{trigger.rule.value}"
    head = (f"{'🛑' if stop else '🎯'} <b>{rule[:1].upper() + rule[1:]} ({plain(threshold)}%)</b> fired for "
            f"{code(watched.mint)} at {plain(trigger.price_sol.quantize(Decimal('0.000000001')))} SOL per token.")
    if trigger.result is None:
        reason = refusal(trigger.error) if trigger.error is not None else refusal(UserFacingError())
        return "\n".join([head, f"The sale did not go through: {escape(reason)} It will be tried again."])
    return "\n".join([head, sell_done(trigger.result)])


def snipe_bought(outcome) -> str:
    what = "Paper-sniped" if outcome.paper else "Sniped"
    return (f"🎯 <b>{what}</b> a new token {code(outcome.mint)} for {sol(outcome.lamports)}"
            f"{' of virtual SOL' if outcome.paper else ''}.\n"
            f"{tx_link(outcome.trade_signature)}\nSee it in /positions.")


def recent_snipes(history) -> str:
    if history is None or not history.entries:
        return ""
    lines = [f"{'✅' if s.status == 'bought' else '⏭'} {short(s.token_mint)}: {escape(s.reason)}"
             for s in history.entries]
    if history.more_skipped:
        lines.append(f"…and {history.more_skipped} more new token(s) skipped for every sniper while your sniping was "
                     "on (not safe to buy, or sniping paused).")
    return "<b>Recent snipes</b>\n" + "\n".join(lines)


# Refusals: every error's words live in telegrambot.refusals (``refusal`` above); the handlers' own two are here.
refusals.fixed("trade_in_progress", TRADE_IN_PROGRESS)
refusals.fixed("not_your_button", NOT_YOURS)

# Handlers' words.
CHECKING = "Checking…"
STEPS = {Step.QUOTING: "Quoting…", Step.SENDING: "Sending…", Step.CONFIRMING: "Confirming…"}
POSITIONS_USAGE = "Usage: /positions [page], for example /positions 2."


def raw_units(raw: int) -> str:
    return f"{raw} (raw units)"


def set_usage(names: str) -> str:
    return f"Usage: /set <name> <value>, e.g. /set slippage 1.5\nNames: {names}."


def no_such_setting(typed: str, names: str) -> str:
    return f"There is no setting called '{typed[:30]}'. Names: {names}."


def threshold_usage(command: str, label: str) -> str:
    return (f"Usage: /{command} <token mint> <percent | off | default>, e.g. /{command} {EXAMPLE_MINT} 20\n"
            f"Sets the {label.lower()} of that one position; 'off' turns it off there, 'default' follows your "
            "/settings again.")


def position_threshold_set(label: str, value: Decimal | None) -> str:
    if value is None:
        shown = "your default from /settings"
    elif value == THRESHOLD_OFF:
        shown = "off (your /settings default does not apply to it)"
    else:
        shown = f"{plain(value)}%"
    return f"✅ {label} for this position: {shown}."


ASK_BUY_MINT = "Paste the mint address of the token to buy, or type /buy &lt;mint&gt; &lt;SOL&gt;."
ASK_BUY_AMOUNT = "How much SOL do you want to spend? Type a number, like 0.25."
CANCELLED = "Cancelled; nothing was changed."


# Orders (/limit, /trail, /dca, /orders) and what the monitor tells of them.

NO_ORDERS = ("You have no active orders. Place one with /limit, /trail or /dca (/help shows how).")
ORDER_TRADES_FAILED = ("Its trade did not go through on chain, three times in a row (the price moved past your "
                       "slippage, or the network dropped it); nothing was bought or sold.")
ORDER_KINDS = {"limit_buy": "Limit buy", "limit_sell": "Limit sell", "trailing_stop": "Trailing stop",
               "dca_buy": "DCA buy", "dca_sell": "DCA sell"}


def order_placed(order) -> str:
    return (f"✅ <b>{ORDER_KINDS[order.kind]} placed</b>: {order_summary(order)}\n"
            "It runs through your usual limits and checks when it fires, and you will be told. /orders lists your "
            "orders, with Cancel buttons.")


def orders_list(orders) -> str:
    if not orders:
        return NO_ORDERS
    lines = [f"{index}. <b>{ORDER_KINDS[o.kind]}</b>: {order_summary(o)}"
             + (" — <i>trading now</i>" if o.status == "firing" else "")
             for index, o in enumerate(orders, 1)]
    return "<b>Your orders</b>\n" + "\n".join(lines)


def order_cancelled(order) -> str:
    return f"Cancelled: {ORDER_KINDS[order.kind].lower()} — {order_summary(order)}. Nothing was traded for it."


def order_summary(order) -> str:
    """One line: what the order trades, and when (a paper order says so first)."""
    return ("📝 paper: " if order.paper else "") + _order_terms(order)


def _order_terms(order) -> str:
    mint = code(short(order.token_mint))
    if order.kind == "limit_buy":
        text = f"buy {sol(order.lamports)} of {mint} at {_trigger(order)} or lower"
    elif order.kind == "limit_sell":
        text = f"sell {_sell_words(order.sell_amount)} of {mint} at {_trigger(order)} or higher"
    elif order.kind == "trailing_stop":
        text = f"sell {_sell_words(order.sell_amount)} of {mint} when the price falls {plain(order.trail_percent)}% " \
               "below its highest"
        if order.activation_num is not None and order.peak_num is None:
            text += f", once it reaches {_sol_price(order.activation_num, order.activation_den, order)}"
        elif order.peak_num is not None:
            text += f" (highest so far {_sol_price(order.peak_num, order.peak_den, order)})"
    elif order.kind == "dca_sell":
        text = (f"sell all of {mint} in {order.parts} parts, every {duration(order.interval_seconds)}; "
                f"{order.parts_done} of {order.parts} done")
    else:
        part = order.lamports // order.parts if order.parts else 0
        text = (f"buy {sol(order.lamports)} of {mint} in {order.parts} parts of about {sol(part)}, every "
                f"{duration(order.interval_seconds)}; {order.parts_done} of {order.parts} done")
    if order.expires_at is not None:
        text += f"; expires {_utc(order.expires_at)}"
    return text


def order_event(event) -> str:
    """A fired order (or a DCA part), one failed for good, or one expired: told to its trader."""
    order = event.order
    kind = ORDER_KINDS[order.kind]
    if order.paper:
        kind = "Paper " + (kind if kind.startswith("DCA") else kind.lower())
    if order.status == "expired":
        return f"⌛ <b>{kind} expired</b> without firing: {order_summary(order)}."
    if order.status == "failed":
        reason = refusal(event.error) if event.error is not None else ORDER_TRADES_FAILED
        return (f"⚠️ <b>{kind} stopped</b>: {order_summary(order)}.\nWhy: {escape(reason)}\n"
                "Nothing more will be tried for it. /orders lists your orders.")
    if order.kind in ("dca_buy", "dca_sell"):
        verb = "bought" if order.kind == "dca_buy" else "sold"
        head = (f"🔁 <b>{'Paper DCA' if order.paper else 'DCA'} part {order.parts_done} of {order.parts}</b> {verb} "
                f"for {code(short(order.token_mint))}.")
    else:
        head = f"✅ <b>{kind} fired</b> for {code(short(order.token_mint))} ({escape(order.trigger_text or '')})."
    if event.result is None:  # settled after a restart: the trade's own result was not kept
        book = "The paper trade was filled" if order.paper else "The trade went through"
        return f"{head}\n{book}; see /positions."
    done = buy_done(event.result) if order.kind in ("limit_buy", "dca_buy") else sell_done(event.result)
    return f"{head}\n{done}"


def _trigger(order) -> str:
    price = _sol_price(order.trigger_num, order.trigger_den, order)
    typed = escape(order.trigger_text or "")
    return price if not typed or typed == price.split(" ")[0] else f"{typed} ({price})"


def _sol_price(num: int, den: int, order) -> str:
    """A stored price (lamports per raw unit) as SOL per whole token, to 6 significant digits (display only)."""
    exact = to_sol_per_token((num, den), order.token_decimals)
    with localcontext() as context:
        context.prec = 6
        value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return f"{plain(value)} SOL/token"


def _sell_words(amount: str) -> str:
    return "all" if amount in ("", "all") else escape(amount)


def order_kinds(mint: str) -> str:
    return (f"Orders for <code>{escape(mint)}</code>: a limit buy or sell, a trailing stop, or buying in parts "
            "(DCA). /orders lists the ones you have.")


ASK_ORDER = {
    "l": ("Type the limit order for this token, for example:\n"
          "<code>buy 0.5 at -20%</code> — buy 0.5 SOL when the price falls 20%\n"
          "<code>buy 0.5 at mcap 50k</code> — or when its market cap falls to 50,000 SOL\n"
          "<code>sell 50% at 2x</code> — sell half when the price doubles from your entry\n"
          "<code>sell all at 0.001 for 24h</code> — at a price in SOL per token, for a day"),
    "t": ("Type how far below its highest the price may fall before everything is sold, like <code>15%</code> "
          "(or <code>15% from 0.001</code> to start trailing once the price reaches 0.001 SOL per token)."),
    "d": ("Type the total, the number of parts and how often, like <code>1 10 every 30m</code>: 0.1 SOL now and "
          "every 30 minutes, 10 times (intervals: 30m, 1h, 1d). To sell what you hold in parts instead: "
          "<code>sell all 4 every 1h</code>."),
}
