"""Everything the bot says. Amount formatting lives here, never in services. Output is Telegram HTML."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from positions.selectors import PortfolioView, PositionView
from positions.trading import BuyResult, SellResult
from tradingbot.display import plain, sol, tokens
from wallets.models import UserSettings
from wallets.withdrawals import WithdrawalPlan, WithdrawalResult

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
    return f'<a href="{EXPLORER_TX.format(signature)}">View transaction</a>'


def welcome(*, public_key: str, balance_lamports: int | None, created: bool) -> str:
    greeting = "Welcome! Your trading wallet is ready." if created else "Welcome back!"
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
    "/sl &lt;mint&gt; &lt;N% | off&gt;, /tp &lt;mint&gt; &lt;N% | off&gt; — stop loss / take profit for one "
    "position\n\n"
    "<b>Wallet</b>\n"
    "/wallet — address and balances\n"
    "/withdraw &lt;address&gt; &lt;SOL | all&gt; — send SOL out (asks to confirm)\n"
    "/exportkey — show your private key (asks to confirm; deleted after 60 s)\n\n"
    "<b>Settings</b>\n"
    "/settings — slippage, limits, stop loss, take profit, sniping, priority fee\n"
    "/set &lt;name&gt; &lt;value&gt; — e.g. /set slippage 1.5\n\n"
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


def token_card(*, mint: str, decimals: int, price_sol: Decimal | None, held_raw: int, supply_raw: int) -> str:
    price = f"{plain(price_sol.quantize(Decimal('0.000000001')))} SOL" if price_sol is not None else "no price"
    return (f"<b>Token</b> {code(mint)}\n"
            f"Price: {price} per token\n"
            f"Supply: {tokens(supply_raw, decimals)} · decimals {decimals}\n"
            f"You hold: {tokens(held_raw, decimals)}\n\n"
            "Choose an amount to buy:")


def confirm_buy(*, mint: str, lamports: int, slippage_bps: int) -> str:
    return (f"Buy {code(mint)} for <b>{sol(lamports)}</b> with up to {plain(Decimal(slippage_bps) / 100)}% "
            "slippage?")


def confirm_sell(*, mint: str, amount: str) -> str:
    return f"Sell <b>{escape(amount)}</b> of {code(mint)}?"


def progress(step: str) -> str:
    return f"⏳ {escape(step)}"


def buy_done(result: BuyResult) -> str:
    return (f"✅ <b>Bought</b> {tokens(result.received_raw, result.decimals)} of {code(result.mint)}\n"
            f"Spent {sol(result.lamports_in)} + {sol(result.fee_lamports)} network fee.\n"
            f"{tx_link(result.signature)}")


def sell_done(result: SellResult) -> str:
    state = "Position closed." if result.position_closed else \
        f"Still holding {tokens(result.remaining_raw, result.decimals)}."
    return (f"✅ <b>Sold</b> {tokens(result.sold_raw, result.decimals)} of {code(result.mint)}\n"
            f"Received {sol(result.lamports_out)} (network fee {sol(result.fee_lamports)}).\n"
            f"Realized PnL: {signed_sol(result.realized_pnl_lamports)}. {state}\n"
            f"{tx_link(result.signature)}")


def trade_failed(message: str, signature: str = "") -> str:
    link = f"\n{tx_link(signature)}" if signature else ""
    return f"❌ {escape(message)}{link}"


def refused(message: str) -> str:
    return f"⚠️ {escape(message)}"


def positions(view: PortfolioView, snipes: list | None = None) -> str:
    snipes_text = recent_snipes(snipes or [])
    if not view.positions:
        text = NO_POSITIONS + f"\n\nRealized PnL (all time): {signed_sol(view.realized_pnl_lamports)}"
        return "\n\n".join(filter(None, [text, snipes_text]))
    lines = ["<b>Your positions</b>"]
    for index, position in enumerate(view.positions, start=1):
        lines.append(_position_block(index, position))
    if not view.prices_available:
        lines.append("Prices are unavailable right now; values will return shortly.")
    lines.append(f"Realized PnL (all time): {signed_sol(view.realized_pnl_lamports)}")
    return "\n\n".join(filter(None, [*lines, snipes_text]))


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


def wallet(*, public_key: str, balance_lamports: int | None, holdings: list[tuple[str, str]]) -> str:
    lines = [f"<b>Wallet</b>\n{code(public_key)}", f"SOL: {_balance(balance_lamports)}"]
    if holdings:
        lines.append("<b>Tokens</b>\n" + "\n".join(f"{code(mint)}: {amount}" for mint, amount in holdings))
    return "\n\n".join(lines)


def confirm_withdrawal(plan: WithdrawalPlan) -> str:
    return (f"<b>Withdraw {sol(plan.lamports)}</b>\n"
            f"To: {code(plan.destination)}\n"
            f"Network fee: {sol(plan.fee_lamports)}\n"
            f"Balance after: {sol(plan.balance_lamports - plan.lamports - plan.fee_lamports)}\n\n"
            "Check the destination carefully: a transfer cannot be undone.")


def withdrawal_done(result: WithdrawalResult) -> str:
    return (f"✅ Sent {sol(result.lamports)} to {code(result.destination)} (fee {sol(result.fee_lamports)}).\n"
            f"{tx_link(result.signature)}")


EXPORT_WARNING = ("⚠️ <b>Your private key gives full control of this wallet.</b>\n"
                  "Anyone who sees it can take everything in it. Never share it, never paste it into a website. "
                  "The message with the key deletes itself after 60 seconds.\n\nShow it now?")


def exported_key(secret: str, seconds: int) -> str:
    return (f"Your private key (import it into Phantom or Solflare):\n<tg-spoiler>{escape(secret)}</tg-spoiler>\n\n"
            f"This message deletes itself in {seconds} seconds.")


KEY_DELETED = "The message with your private key was deleted."


def settings(values: UserSettings) -> str:
    return ("<b>Settings</b>\n"
            f"Slippage: {plain(Decimal(values.slippage_bps) / 100)}%\n"
            f"Max trade size: {sol(values.max_trade_size_lamports)}\n"
            f"Daily loss limit: {sol(values.daily_loss_limit_lamports)}\n"
            f"Stop loss: {percent(values.stop_loss_percentage)}\n"
            f"Take profit: {percent(values.take_profit_percentage)}\n"
            f"Sniping: {'on' if values.snipe_enabled else 'off'} · amount {sol(values.snipe_amount_lamports)}\n"
            f"Priority fee: {sol(values.priority_fee_lamports)}\n"
            f"Confirm trades: {'on' if values.confirm_trades else 'off'}\n\n"
            "Tap a setting to change it, or type /set &lt;name&gt; &lt;value&gt;.")


def setting_saved(label: str) -> str:
    return f"✅ {escape(label)} saved."


def metrics(*, uptime_seconds: float, succeeded: int, failed: int, rpc_requests: int, open_positions: int,
            users: int) -> str:
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
            f"Users: {users}")


def rule_fired(trigger) -> str:
    watched = trigger.watched
    stop = trigger.rule.value == "stop loss"
    threshold = watched.stop_loss if stop else watched.take_profit
    head = (f"{'🛑' if stop else '🎯'} <b>{trigger.rule.value.capitalize()} ({plain(threshold)}%)</b> fired for "
            f"{code(watched.mint)} at {plain(trigger.price_sol.quantize(Decimal('0.000000001')))} SOL per token.")
    if trigger.result is None:
        return "\n".join([head, f"The sale did not go through: {escape(trigger.error)} It will be tried again."])
    return "\n".join([head, sell_done(trigger.result)])


def snipe_bought(outcome) -> str:
    return (f"🎯 <b>Sniped</b> a new token {code(outcome.mint)} for {sol(outcome.lamports)}.\n"
            f"{tx_link(outcome.trade_signature)}\nSee it in /positions.")


def recent_snipes(snipes: list) -> str:
    if not snipes:
        return ""
    lines = [f"{'✅' if s.status == 'bought' else '⏭'} {short(s.token_mint)}: {escape(s.reason)}" for s in snipes]
    return "<b>Recent snipes</b>\n" + "\n".join(lines)
