"""Build the python-telegram-bot Application with every dependency injected."""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from telegrambot.handlers import (
    admin,
    gate,
    guard,
    money_out,
    orders,
    paper,
    portfolio,
    router,
    settings,
    start,
    trade,
)
from telegrambot.handlers.common import BotDeps, is_outage, one_line, throttle

logger = logging.getLogger("telegrambot")
COMMANDS = [
    BotCommand("start", "Your wallet and the main menu"),
    BotCommand("buy", "Buy a token: /buy <mint> <SOL>"),
    BotCommand("sell", "Sell: /sell <mint> <all | amount | N%>"),
    BotCommand("positions", "Open positions with PnL"),
    BotCommand("limit", "Limit order: /limit <mint> buy <SOL> at <price> (or sell … at 2x)"),
    BotCommand("trail", "Trailing stop: /trail <mint> <N%>"),
    BotCommand("dca", "Buy in parts: /dca <mint> <SOL> <parts> every <30m>"),
    BotCommand("orders", "Your orders, with Cancel buttons"),
    BotCommand("wallet", "Address and balances"),
    BotCommand("withdraw", "Send SOL out: /withdraw <address> <SOL | all>"),
    BotCommand("exportkey", "Show your private key"),
    BotCommand("2fa", "Two-step verification for withdrawals and key export"),
    BotCommand("allowlist", "Addresses withdrawals may go to"),
    BotCommand("withdrawdelay", "Delay withdrawals above an amount"),
    BotCommand("settings", "Slippage, limits, stop loss, take profit, sniping"),
    BotCommand("paper", "Paper trading: try every feature with virtual SOL"),
    BotCommand("help", "All commands"),
]


def build_application(*, deps: BotDeps, token: str, base_url: str | None = None,
                      base_file_url: str | None = None, updater: bool = True) -> Application:
    """The bot, wired. It owns none of ``deps``: whoever created the clients closes them."""
    builder = (ApplicationBuilder().token(token).rate_limiter(AIORateLimiter(max_retries=3))
               .concurrent_updates(64).post_init(_register_commands))
    if base_url:
        builder = builder.base_url(base_url).base_file_url(base_file_url or base_url.replace("/bot", "/file/bot"))
    if not updater:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["deps"] = deps
    _add_handlers(application)
    application.add_error_handler(_log_error)
    return application


def _add_handlers(application: Application) -> None:
    application.add_handler(TypeHandler(Update, gate.drop_duplicates), group=-4)
    application.add_handler(TypeHandler(object, throttle), group=-3)
    application.add_handler(TypeHandler(Update, gate.private_only), group=-2)
    application.add_handler(TypeHandler(Update, paper.load_mode), group=-1)
    commands = {
        "start": start.start, "help": start.help_command, "buy": trade.buy, "sell": trade.sell,
        "positions": portfolio.positions, "wallet": portfolio.wallet, "withdraw": money_out.withdraw,
        "exportkey": money_out.export_key, "settings": settings.settings, "set": settings.set_command,
        "metrics": admin.metrics, "sl": settings.position_stop_loss, "tp": settings.position_take_profit,
        "2fa": guard.two_factor, "allowlist": guard.allowlist, "withdrawdelay": guard.withdraw_delay,
        "limit": orders.limit, "trail": orders.trail, "dca": orders.dca, "orders": orders.orders,
        "paper": paper.paper_command,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(router.on_button))
    application.add_handler(MessageHandler(filters.COMMAND, router.unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, router.on_text))
    application.add_handler(MessageHandler(~filters.TEXT & ~filters.StatusUpdate.ALL, router.on_other))


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The last stop of an error in a handler or a job. The Bot API being unreachable (NetworkError, and TimedOut
    which is one) is an outage, not a bug: one line. Anything else keeps its traceback."""
    error, where = context.error, ("a job" if update is None else "an update")
    if is_outage(error):
        logger.warning("Telegram Bot API unreachable while handling %s (%s)", where, one_line(error))
        return
    logger.error("Unhandled error while handling %s", where, exc_info=error)


async def _register_commands(application: Application) -> None:
    await application.bot.set_my_commands(COMMANDS)
