"""Run the bot: create and own its clients, start polling (or serve a webhook), stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from contextlib import suppress

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from custody import notices, second_factor
from custody.money_out import MoneyOut
from custody.selectors import due_withdrawals
from kernel.chain.budget import RequestBudget
from kernel.chain.errors import ChainError
from kernel.chain.jito import BlockEngineClient
from kernel.chain.jupiter import JupiterClient
from kernel.chain.launches import watch_program_logs
from kernel.chain.rpc import RpcGateway
from kernel.config import TradingConfig
from kernel.db import close_db_connections, db_call
from positions import paper as paper_book
from positions.monitor import Monitor, Trigger
from positions.orders import OrderEngine, OrderEvent
from positions.reconcile import Settled, reconcile_pending
from positions.sniping import LaunchQueue, SnipeOutcome, Sniper, prune_snipes
from positions.trade_policy import apply_all_due
from positions.trading import TradingService
from telegrambot import texts
from telegrambot.application import build_application
from telegrambot.handlers.common import BotDeps, is_outage, one_line
from telegrambot.sensitive import sweep
from wallets.crypto import Keyring

logger = logging.getLogger("telegrambot.runner")
RECONCILE_INTERVAL_SECONDS = 30
RECONCILE_AT_START = "reconcile-at-start"
SENDER_GRACE_SECONDS = 20  # a running bot reports its own trades; the periodic job leaves it this long to do so
SWEEP_INTERVAL_SECONDS = 5
WITHDRAWALS_INTERVAL_SECONDS = 15
PRUNE_SNIPES_INTERVAL_SECONDS = 3600
SETTINGS_INTERVAL_SECONDS = 30
NOTICES_INTERVAL_SECONDS = 5


class BotRunner:
    """Owns the RPC gateway and the Jupiter client it creates, and closes them on the way out."""

    def __init__(self, config: TradingConfig, *, key_message_seconds: int = 60, updater: bool = True) -> None:
        self.config = config
        self.rpc = RpcGateway(config.solana_rpc_url, timeout=config.rpc_timeout_seconds,
                              rebroadcast_seconds=config.rebroadcast_seconds,
                              fallback_urls=config.solana_fallback_urls, send_urls=config.solana_send_urls)
        budget = RequestBudget(config.jupiter_requests_per_minute) if config.jupiter_requests_per_minute else None
        self.jupiter = JupiterClient(config.jupiter_api_url, api_key=config.jupiter_api_key,
                                     timeout=config.rpc_timeout_seconds, budget=budget)
        keyring = Keyring(config.require_encryption_keys())
        self.block_engine = (BlockEngineClient(config.jito_block_engine_url, timeout=config.rpc_timeout_seconds)
                             if config.jito_block_engine_url else None)
        trading = TradingService(rpc=self.rpc, jupiter=self.jupiter, keyring=keyring, config=config,
                                 block_engine=self.block_engine)
        money_out = MoneyOut(rpc=self.rpc, keyring=keyring, policy=config.custody)
        self.deps = BotDeps(config=config, trading=trading, money_out=money_out, rpc=self.rpc, jupiter=self.jupiter,
                            keyring=keyring, key_message_seconds=key_message_seconds,
                            throttle_limit=config.user_rate_limit)
        self.application: Application = build_application(
            deps=self.deps, token=config.require_telegram_token(),
            base_url=_bot_url(config.telegram_api_base_url), base_file_url=_file_url(config.telegram_api_base_url),
            updater=updater)
        # At start everything pending is an orphan of a crash (and one not yet landed is sent again until it lands
        # or expires); afterwards, young ones are still their sender's.
        self.application.job_queue.run_once(_reconcile_job, when=0, data=0, name=RECONCILE_AT_START)
        self.application.job_queue.run_repeating(_reconcile_job, interval=RECONCILE_INTERVAL_SECONDS,
                                                 first=RECONCILE_INTERVAL_SECONDS, data=SENDER_GRACE_SECONDS,
                                                 name="reconcile")
        self.application.job_queue.run_repeating(_sweep_job, interval=SWEEP_INTERVAL_SECONDS, first=0,
                                                 name="sensitive-messages", job_kwargs={"max_instances": 1})
        self.application.job_queue.run_repeating(self._withdrawals_job, interval=WITHDRAWALS_INTERVAL_SECONDS,
                                                 first=1, name="delayed-withdrawals",
                                                 job_kwargs={"max_instances": 1, "coalesce": True})
        self.application.job_queue.run_repeating(self._settings_job, interval=SETTINGS_INTERVAL_SECONDS, first=1,
                                                 name="delayed-settings",
                                                 job_kwargs={"max_instances": 1, "coalesce": True})
        self.application.job_queue.run_repeating(self._notices_job, interval=NOTICES_INTERVAL_SECONDS, first=1,
                                                 name="staff-notices",
                                                 job_kwargs={"max_instances": 1, "coalesce": True})
        self.sniper = Sniper(trading, word=texts.refusal, notify=self._notify_snipe)
        self.launches = LaunchQueue(self.sniper, maxsize=config.snipe_queue_size, workers=config.snipe_workers)
        self.application.job_queue.run_repeating(_prune_snipes_job, interval=PRUNE_SNIPES_INTERVAL_SECONDS, first=60,
                                                 data=config.snipe_retention_days, name="prune-snipes",
                                                 job_kwargs={"max_instances": 1, "coalesce": True})
        self._watcher: asyncio.Task | None = None
        self._paper_notice: asyncio.Task | None = None
        self.orders = OrderEngine(trading, notify=self._notify_order)
        self.monitor = Monitor(trading, notify=self._notify_trigger, orders=self.orders)
        self.application.bot_data["monitor"] = self.monitor
        self.application.job_queue.run_repeating(_monitor_job, interval=config.monitor_interval_seconds,
                                                 first=config.monitor_interval_seconds, name="monitor",
                                                 job_kwargs={"max_instances": 1, "coalesce": True})

    async def run_polling(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or _stop_on_signals()
        try:
            await self.application.initialize()
            await self.application.post_init(self.application)
            await self.application.start()
            await self.application.updater.start_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False,
                                                         error_callback=PollingErrors())
            self.start_serving()
            logger.info("Bot is running (polling). Stop with Ctrl-C or SIGTERM.")
            await stop.wait()
        finally:
            await self.shutdown()

    def start_serving(self) -> None:
        """What a process serving the bot (polling or a webhook worker) starts once it runs: the launch watcher, and
        under PAPER_TRADING the one notice of what it leaves waiting."""
        self.start_launch_watcher()
        if self.config.paper_trading:
            self._paper_notice = asyncio.create_task(self._say_what_paper_trading_leaves(), name="paper-only-notice")

    @staticmethod
    async def _say_what_paper_trading_leaves() -> None:
        """PAPER_TRADING over a bot that held real money: its real positions and orders wait, unwatched and
        unsold, until it is off again (no real trade may be made); the operator hears it once, at start."""
        positions, orders = await db_call(paper_book.real_left_waiting)()
        if positions or orders:
            logger.warning("PAPER_TRADING=true: %d open real position(s) and %d active real order(s) wait, with no "
                           "stop loss, take profit or order firing, until PAPER_TRADING is false again",
                           positions, orders)

    async def register_webhook(self) -> str:
        """Tell Telegram where to post updates, with the secret token every worker checks. Idempotent."""
        url, secret = self.config.require_webhook()
        try:
            await self.application.initialize()
            await self.application.bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
            await self.application.post_init(self.application)
        finally:
            await self.shutdown()
        return url

    def start_launch_watcher(self, ready: asyncio.Event | None = None) -> None:
        """Listen for new tokens on the launchpad programs; the watcher queues them for the snipe workers."""
        self.launches.start()
        self._watcher = asyncio.create_task(watch_program_logs(self.config.solana_ws_url,
                                                               self.config.snipe_program_ids, self.launches.on_logs,
                                                               ready=ready), name="launch-watcher")

    async def _notify_snipe(self, outcome: SnipeOutcome) -> None:
        if outcome.status != "bought":
            return  # skipped launches are recorded and listed in /positions, not pushed: there are thousands a day
        try:
            await self.application.bot.send_message(outcome.telegram_user_id, texts.snipe_bought(outcome),
                                                    parse_mode=ParseMode.HTML, disable_web_page_preview=True)
        except TelegramError:
            logger.warning("Could not tell a user about a snipe")

    async def _notify_trigger(self, trigger: Trigger) -> None:
        try:
            await self.application.bot.send_message(trigger.watched.telegram_user_id, texts.rule_fired(trigger),
                                                    parse_mode=ParseMode.HTML, disable_web_page_preview=True)
        except TelegramError:
            logger.warning("Could not tell user about a %s", trigger.rule.value)

    async def _notify_order(self, event: OrderEvent) -> None:
        try:
            await self.application.bot.send_message(event.telegram_user_id, texts.order_event(event),
                                                    parse_mode=ParseMode.HTML, disable_web_page_preview=True)
        except TelegramError:
            logger.warning("Could not tell a user about order %s", event.order.pk)

    async def run_due_withdrawals(self) -> int:
        """Send the delayed withdrawals whose time has come (not held, not cancelled) and tell their owners."""
        now = self.deps.clock.now()
        sent = 0
        for withdrawal_id in await db_call(due_withdrawals)(now):
            outcome = await self.deps.money_out.send_due(withdrawal_id, now=now)
            if outcome.result is not None:
                sent += 1
                text = texts.scheduled_withdrawal_done(outcome.result)
            elif outcome.refusal is not None:
                text = texts.scheduled_withdrawal_failed(outcome.withdrawal, texts.refusal(outcome.refusal))
            else:
                continue
            try:
                await self.application.bot.send_message(outcome.withdrawal.user.telegram_user_id, text,
                                                        parse_mode=ParseMode.HTML, disable_web_page_preview=True)
            except TelegramError:
                logger.warning("Could not tell a user about their delayed withdrawal %s", withdrawal_id)
        return sent

    async def apply_due_settings(self) -> int:
        """Put delayed trading-setting changes whose time has come into force, and tell their owners."""
        applied = await db_call(apply_all_due)(self.deps.clock.now())
        for telegram_user_id, changes in applied:
            try:
                await self.application.bot.send_message(telegram_user_id, texts.settings_applied(changes),
                                                        parse_mode=ParseMode.HTML)
            except TelegramError:
                logger.warning("Could not tell a user that a delayed setting is in effect")
        return len(applied)

    async def _settings_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.apply_due_settings()

    async def _withdrawals_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.run_due_withdrawals()
        except ChainError as err:
            logger.warning("Delayed withdrawals postponed: %s", err)

    async def run_staff_resets(self) -> int:
        """Apply the staff 2FA resets whose 24 hours are over, then send every queued notice (theirs included)."""
        applied = await db_call(second_factor.apply_due_resets)(self.deps.clock.now())
        await self.deliver_notices()
        return applied

    async def deliver_notices(self) -> int:
        """Send the messages the admin queued for users (custody.notices); a failed send is retried next round."""
        sent = 0
        for notice in await db_call(notices.claim_unsent)():
            try:
                await self.application.bot.send_message(notice.telegram_user_id,
                                                        texts.staff_notice(notice.kind, notice.detail),
                                                        parse_mode=ParseMode.HTML, disable_web_page_preview=True)
                sent += 1
            except (Forbidden, BadRequest):
                logger.warning("Notice %s cannot be delivered (the user blocked the bot or left)", notice.pk)
            except TelegramError:
                logger.warning("Could not send notice %s; it is retried", notice.pk)
                await db_call(notices.release)(notice.pk)
        return sent

    async def _notices_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.run_staff_resets()

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._watcher
        await self.launches.close()  # before the clients close: buys in flight get a grace period
        application = self.application
        if application.updater and application.updater.running:
            await application.updater.stop()
        if application.running:
            await _sweep_everything(application)
        if application.running:
            await application.stop()
        with suppress(RuntimeError):
            await application.shutdown()
        await self.rpc.close()
        await self.jupiter.close()
        if self.block_engine is not None:
            await self.block_engine.close()
        await close_db_connections()
        logger.info("Shutting down...")


class PollingErrors:
    """python-telegram-bot's polling error callback: during a Bot API outage PTB retries with its own back-off (1 s
    growing to 30 s); by default it logs a full traceback at every attempt. This logs one line instead, and fewer
    as the outage lasts: the 1st, 2nd, 4th, 8th... failure in a row. A failure after a quiet spell starts a new
    count (PTB never waits more than 30 s between attempts, so 90 s without one means polling worked)."""

    QUIET_SECONDS = 90.0

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures = 0
        self._last = float("-inf")

    def __call__(self, error: TelegramError) -> None:
        now = self._clock()
        if now - self._last > self.QUIET_SECONDS:
            self._failures = 0
        self._last = now
        self._failures += 1
        if self._failures & (self._failures - 1) == 0:  # a power of two
            logger.warning("Telegram Bot API unreachable (%s); %d failed poll(s) in a row, retrying with back-off",
                           one_line(error), self._failures)


async def _sweep_everything(application: Application) -> None:
    """Key material must not outlive the bot in the chat: delete every tracked message before stopping."""
    try:
        await sweep(application.bot, everything=True)
    except Exception as err:
        if not is_outage(err):
            logger.exception("Could not delete the tracked key messages at shutdown; they are deleted at next start")
            return
        logger.warning("Could not delete the tracked key messages at shutdown (%s); they are deleted at next start",
                       one_line(err))


async def _sweep_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await sweep(context.bot)


async def _monitor_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    runner_monitor: Monitor = context.application.bot_data["monitor"]
    try:
        await runner_monitor.run_cycle()
    except ChainError as err:
        logger.warning("Monitor cycle skipped: %s", err)


async def _prune_snipes_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await db_call(prune_snipes)(days=context.job.data)


async def _reconcile_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    async def tell(settled: Settled) -> None:
        try:
            await context.bot.send_message(settled.telegram_user_id, texts.settled_later(settled),
                                           parse_mode=ParseMode.HTML, disable_web_page_preview=True)
        except TelegramError:
            logger.warning("Could not tell a user how their pending %s was settled", settled.kind)

    try:
        deps = context.application.bot_data["deps"]
        await reconcile_pending(deps.rpc, notify=tell, min_age_seconds=context.job.data,
                                tip_accounts=await deps.trading.known_tip_accounts(),
                                resume=context.job.name == RECONCILE_AT_START)
    except ChainError as err:
        logger.warning("Reconciliation postponed: %s", err)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _bot_url(base: str | None) -> str | None:
    return f"{base.rstrip('/')}/bot" if base else None


def _file_url(base: str | None) -> str | None:
    return f"{base.rstrip('/')}/file/bot" if base else None
