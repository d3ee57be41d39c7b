"""Buying and selling: commands, the token card, sell buttons and confirmations."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from custody import second_factor
from kernel.chain.errors import JupiterError
from kernel.db import db_call
from kernel.errors import UserFacingError
from positions import trade_policy
from positions.amounts import SellAmount
from positions.errors import TradeFailed, UnknownToken
from positions.risk import slippage_bps
from positions.sale_estimate import estimate_sale
from positions.screening import screen_mint
from positions.selectors import open_position_mint, paper_holding
from positions.services import load_trader
from positions.trading import Step, validate_mint
from telegrambot import conversation, keyboards, pending, texts
from telegrambot.handlers.common import (
    NotYours,
    OneTradeAtATime,
    deps,
    edit,
    ensure_book,
    guarded,
    on_paper,
    reply,
    row_id,
)
from telegrambot.parsing import parse_buy_args, parse_sell_args
from wallets.selectors import public_key_of


@guarded
async def buy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = parse_buy_args(context.args or [])
    await start_buy(update, context, mint=args.mint, lamports=args.lamports)


@guarded
async def sell(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = parse_sell_args(context.args or [])
    await start_sell(update, context, mint=args.mint, amount=args.amount)


async def start_buy(update: Update, context: ContextTypes.DEFAULT_TYPE, *, mint: str, lamports: int) -> None:
    """A buy in the trader's book of the moment (paper or real); a confirmation keeps that book."""
    settings = await _settings_now(update, context)
    paper = on_paper()
    if settings.confirm_trades:
        nonce = await conversation.remember(update.effective_user.id, pending.Buy(mint, lamports, paper))
        needs_code = not paper and await _buy_needs_code(update, context, lamports)
        await reply(update, texts.confirm_buy(mint=mint, lamports=lamports, needs_code=needs_code,
                                              slippage_bps=slippage_bps(settings, deps(context).config), paper=paper),
                    reply_markup=keyboards.confirm(nonce, "Buy on paper" if paper else "Buy"))
        return
    await run_buy(update, context, mint=mint, lamports=lamports, paper=paper)


async def start_sell(update: Update, context: ContextTypes.DEFAULT_TYPE, *, mint: str, amount: SellAmount,
                     paper: bool | None = None) -> None:
    """A sale of the position in the trader's book of the moment, or of the book ``paper`` names (a position's
    button). A sale whose network fee would exceed what it brings in is always asked about, confirm_trades or
    not."""
    paper = on_paper() if paper is None else paper
    settings = await _settings_now(update, context)
    bot = deps(context)
    estimate = await estimate_sale(jupiter=bot.jupiter, config=bot.config, telegram_user_id=update.effective_user.id,
                                   mint=mint, amount=amount, paper=paper)
    costly = estimate if estimate is not None and estimate.fee_exceeds_proceeds else None
    if settings.confirm_trades or costly:
        nonce = await conversation.remember(update.effective_user.id, pending.Sell(mint, str(amount), paper))
        await reply(update, texts.confirm_sell(mint=mint, amount=str(amount), costly=costly, paper=paper),
                    reply_markup=keyboards.confirm(nonce, "Sell anyway" if costly else "Sell"))
        return
    await run_sell(update, context, mint=mint, amount=amount, paper=paper)


async def run_buy(update: Update, context: ContextTypes.DEFAULT_TYPE, *, mint: str, lamports: int,
                  code_given: bool = False, paper: bool = False) -> None:
    """After the confirmation (if the trader wants one); a real buy above the trader's code level first asks for
    the second factor, and only the right code (guard.on_code) comes back here with ``code_given``. A paper buy
    spends no money and asks for no code."""
    if not code_given and not paper and await _buy_needs_code(update, context, lamports):
        user_id = update.effective_user.id
        trader = await db_call(load_trader)(user_id)
        await db_call(second_factor.ensure_not_locked)(trader.wallet, deps(context).clock.now())
        await conversation.ask_code(user_id, pending.Buy(mint, lamports))
        await reply(update, texts.ASK_BUY_CODE)
        return

    async def buy(progress):
        result = await deps(context).trading.execute_buy(telegram_user_id=update.effective_user.id, mint=mint,
                                                         lamports=lamports, progress=progress, paper=paper)
        return texts.buy_done(result)
    await _run_trade(update, context, buy)


async def run_sell(update: Update, context: ContextTypes.DEFAULT_TYPE, *, mint: str, amount: SellAmount,
                   paper: bool = False) -> None:
    async def sell(progress):
        result = await deps(context).trading.execute_sell(telegram_user_id=update.effective_user.id, mint=mint,
                                                          amount=amount, progress=progress, paper=paper)
        return texts.sell_done(result)
    await _run_trade(update, context, sell)


async def _run_trade(update: Update, context: ContextTypes.DEFAULT_TYPE, trade) -> None:
    """One progress message, edited as the trade moves (Quoting… Sending… Confirming…) and finally the result."""
    with OneTradeAtATime(context, update.effective_user.id):
        status = await reply(update, texts.progress(texts.CHECKING))
        progress = ProgressEditor(status)
        try:
            text = await trade(progress)
        except TradeFailed as failed:
            text = texts.trade_failed(texts.refusal(failed), failed.signature)
        except UserFacingError as err:
            text = texts.refused(texts.refusal(err))
        await progress.settle()
        await _finish(update, status, text)


async def paste_mint(update: Update, context: ContextTypes.DEFAULT_TYPE, mint: str) -> None:
    """A pasted mint address: bought at once for the trader's auto-buy amount, through the same path as
    ``/buy <mint> <amount>`` (confirmation, code, limits, screening); without auto-buy, its token card."""
    mint = validate_mint(mint)
    lamports = await _auto_buy_lamports(update, context)
    if lamports is None:
        await show_token_card(update, context, mint)
        return
    await reply(update, texts.auto_buy(mint=mint, lamports=lamports))
    await start_buy(update, context, mint=mint, lamports=lamports)


async def show_token_card(update: Update, context: ContextTypes.DEFAULT_TYPE, mint: str) -> None:
    mint = validate_mint(mint)
    bot = deps(context)
    info = await bot.rpc.mint_info(mint)
    if info is None:
        raise UnknownToken(mint)  # worded once, in refusals, like the same refusal from a /buy
    wallet_key = await public_key_of(update.effective_user.id)
    if on_paper():
        held = await paper_holding(update.effective_user.id, mint)  # what the paper book holds of it
    else:
        held = await bot.rpc.token_balance(wallet_key, mint) if wallet_key else 0
    settings = await _settings_now(update, context) if wallet_key else None
    try:
        price = (await bot.jupiter.sol_prices([mint])).get(mint)
    except JupiterError:
        price = None
    screening = screen_mint(info, max_transfer_fee_bps=bot.config.custody.max_transfer_fee_bps)
    await reply(update, texts.token_card(mint=mint, decimals=info.decimals, price_sol=price, held_raw=held,
                                         supply_raw=info.supply, screening=screening, settings=settings),
                reply_markup=keyboards.token_card(mint, paper=on_paper()) if screening.ok else None)


async def sell_position_percent(update: Update, context: ContextTypes.DEFAULT_TYPE, *, position_id: str,
                                percent: str) -> None:
    """A Sell N% button. The position must belong to the user who pressed it, whatever the data says."""
    if percent not in {str(p) for p in keyboards.SELL_PRESETS_PERCENT}:
        raise NotYours()
    found = await open_position_mint(update.effective_user.id, row_id(position_id))
    if found is None:
        raise NotYours()
    mint, paper = found
    ensure_book(paper)  # a real position's button pressed on paper (or the reverse) sells nothing
    amount = SellAmount.all() if percent == "100" else SellAmount.percent(Decimal(percent))
    await start_sell(update, context, mint=mint, amount=amount, paper=paper)


class ProgressEditor:
    """Shows a trade's steps by editing one message, without ever making the trade wait: each edit runs in the
    background (under load Telegram's rate limit can delay an edit by seconds, and a signed transaction must not
    wait for a progress message). Steps that pile up collapse into the latest; ``settle()`` lets the edit in flight
    finish, so the result is always the last text shown."""

    def __init__(self, message) -> None:
        self._message = message
        self._latest: str | None = None
        self._task: asyncio.Task | None = None

    async def __call__(self, step: Step) -> None:
        if self._message is None:
            return
        self._latest = step
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._latest is not None:
            step, self._latest = self._latest, None
            await edit(self._message, texts.progress(texts.STEPS[step]))

    async def settle(self) -> None:
        self._latest = None
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


async def _finish(update: Update, status, text: str) -> None:
    if status is not None:
        await edit(status, text)
    else:
        await reply(update, text)


async def _settings_now(update: Update, context: ContextTypes.DEFAULT_TYPE):
    """The settings in force now (a delayed change that has come due is applied first)."""
    return await db_call(trade_policy.settings_now)(telegram_user_id=update.effective_user.id,
                                                    now=deps(context).clock.now())


async def _auto_buy_lamports(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    if await public_key_of(update.effective_user.id) is None:
        return None  # no wallet yet: the card, which says how to start
    return (await _settings_now(update, context)).auto_buy_lamports


async def _buy_needs_code(update: Update, context: ContextTypes.DEFAULT_TYPE, lamports: int) -> bool:
    return await db_call(trade_policy.buy_needs_code)(telegram_user_id=update.effective_user.id, lamports=lamports,
                                                      config=deps(context).config)
