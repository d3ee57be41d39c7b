"""Placing orders: turn what the trader typed into an exact trigger price (lamports per raw unit), then write the
order. The chain and the price API are read here (the mint's supply and decimals, the price now, the position's
entry price); the write is ``order_services.place_order``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from fractions import Fraction

from kernel.chain.errors import ChainError, JupiterError
from kernel.db import db_call
from kernel.money import LAMPORTS_PER_SOL
from positions import order_services, rational
from positions import paper as paper_book
from positions.amounts import SellAmount
from positions.errors import InvalidAmount, ServiceUnavailable, TokenRefused, TradeTooLarge, UnknownToken
from positions.models import Order, Position
from positions.order_errors import TriggerUnusable
from positions.rational import Rational
from positions.risk import max_trade_lamports
from positions.screening import screen_mint
from positions.services import load_trader, open_position
from positions.trading import TradingService, validate_mint


class TriggerKind(Enum):
    PRICE = "price"  # SOL per whole token
    MCAP = "mcap"  # market cap in SOL: supply × price
    FALL = "fall"  # N% below the price now (limit buys)
    MULTIPLE = "multiple"  # N × the position's entry price (limit sells)


@dataclass(frozen=True)
class TriggerSpec:
    kind: TriggerKind
    value: Decimal
    text: str  # as typed, for display


async def place_limit_buy(trading: TradingService, *, telegram_user_id: int, mint: str, lamports: int,
                          trigger: TriggerSpec, expires_in: timedelta | None, now: datetime) -> Order:
    mint = validate_mint(mint)
    if lamports <= 0:
        raise InvalidAmount(InvalidAmount.Kind.BUY_NOT_POSITIVE)
    info, paper = await _buyable_mint(trading, telegram_user_id, mint, lamports)
    price_now = await _price_now(trading, mint, info.decimals)
    price = _trigger_price(trigger, decimals=info.decimals, supply=info.supply, price_now=price_now)
    if price_now is not None and rational.at_least(price, price_now) and trigger.kind is not TriggerKind.FALL:
        raise TriggerUnusable(TriggerUnusable.Reason.ALREADY_MET)
    return await db_call(order_services.place_order)(
        telegram_user_id=telegram_user_id, kind=Order.Kind.LIMIT_BUY, mint=mint, decimals=info.decimals,
        trigger=_stored(price), trigger_text=trigger.text, lamports=lamports,
        expires_at=now + expires_in if expires_in else None, paper=paper)


async def place_limit_sell(trading: TradingService, *, telegram_user_id: int, mint: str, amount: SellAmount,
                           trigger: TriggerSpec, expires_in: timedelta | None, now: datetime) -> Order:
    mint = validate_mint(mint)
    position = await _position(trading, telegram_user_id, mint)
    amount.to_raw(remaining_raw=position.remaining_amount_raw, decimals=position.token_decimals)  # readable now
    supply = 0
    if trigger.kind is TriggerKind.MCAP:
        info = await _mint_info(trading, mint)
        supply = info.supply
    entry = (position.entry_cost_lamports, position.entry_amount_raw) if position.entry_amount_raw else None
    price_now = await _price_now(trading, mint, position.token_decimals)
    price = _trigger_price(trigger, decimals=position.token_decimals, supply=supply, entry=entry)
    if price_now is not None and rational.at_most(price, price_now):
        raise TriggerUnusable(TriggerUnusable.Reason.ALREADY_MET)
    return await db_call(order_services.place_order)(
        telegram_user_id=telegram_user_id, kind=Order.Kind.LIMIT_SELL, mint=mint, decimals=position.token_decimals,
        trigger=_stored(price), trigger_text=trigger.text, sell_amount=str(amount),
        expires_at=now + expires_in if expires_in else None, paper=position.paper)


async def place_trailing_stop(trading: TradingService, *, telegram_user_id: int, mint: str, percent: Decimal,
                              activation_sol: Decimal | None = None, amount: SellAmount | None = None) -> Order:
    """Sell when the price falls ``percent`` below its highest since now (or since it first reached the activation
    price, when one is given)."""
    mint = validate_mint(mint)
    position = await _position(trading, telegram_user_id, mint)
    activation = _stored(rational.per_raw_unit(activation_sol, position.token_decimals)) if activation_sol else None
    peak = None
    if activation is None:
        price_now = await _price_now(trading, mint, position.token_decimals)
        if price_now is None:
            raise TriggerUnusable(TriggerUnusable.Reason.NO_PRICE)
        peak = _stored(price_now)
    return await db_call(order_services.place_order)(
        telegram_user_id=telegram_user_id, kind=Order.Kind.TRAILING_STOP, mint=mint, decimals=position.token_decimals,
        trigger_text=f"-{percent}%", sell_amount=str(amount or SellAmount.all()), trail_percent=percent,
        activation=activation, peak=peak, paper=position.paper)


async def place_dca(trading: TradingService, *, telegram_user_id: int, mint: str, lamports: int, parts: int,
                    interval_seconds: int, now: datetime) -> Order:
    """Buy ``lamports`` in ``parts`` equal parts, the first now (at the next monitor cycle), then every interval."""
    mint = validate_mint(mint)
    part = lamports // parts
    if part <= 0:
        raise InvalidAmount(InvalidAmount.Kind.BUY_NOT_POSITIVE)
    info, paper = await _buyable_mint(trading, telegram_user_id, mint, lamports - part * (parts - 1))
    return await db_call(order_services.place_order)(
        telegram_user_id=telegram_user_id, kind=Order.Kind.DCA_BUY, mint=mint, decimals=info.decimals,
        lamports=lamports, parts=parts, interval_seconds=interval_seconds, next_run_at=now, paper=paper)


async def place_dca_sell(trading: TradingService, *, telegram_user_id: int, mint: str, parts: int,
                         interval_seconds: int, now: datetime) -> Order:
    """Sell the whole open position in ``mint`` in ``parts`` parts, the first now (at the next monitor cycle), then
    every interval: each part an equal share of what is left, the last one all of it."""
    mint = validate_mint(mint)
    position = await _position(trading, telegram_user_id, mint)  # NoOpenPosition: nothing to sell
    return await db_call(order_services.place_order)(
        telegram_user_id=telegram_user_id, kind=Order.Kind.DCA_SELL, mint=mint, decimals=position.token_decimals,
        sell_amount="all", parts=parts, interval_seconds=interval_seconds, next_run_at=now, paper=position.paper)


def _trigger_price(trigger: TriggerSpec, *, decimals: int, supply: int = 0, price_now: Rational | None = None,
                   entry: Rational | None = None) -> Rational:
    if trigger.kind is TriggerKind.PRICE:
        return rational.per_raw_unit(trigger.value, decimals)
    if trigger.kind is TriggerKind.MCAP:
        if supply <= 0:
            raise TriggerUnusable(TriggerUnusable.Reason.NO_SUPPLY)
        # the price at which the whole supply is worth the cap: mcap lamports per raw unit of supply
        return rational.scaled((LAMPORTS_PER_SOL, supply), trigger.value)
    if trigger.kind is TriggerKind.FALL:
        if price_now is None:
            raise TriggerUnusable(TriggerUnusable.Reason.NO_PRICE)
        # Fraction first: Decimal arithmetic would round a long typed value at 28 digits
        return rational.scaled(price_now, (100 - Fraction(trigger.value)) / 100)
    if entry is None or entry[0] <= 0:
        raise TriggerUnusable(TriggerUnusable.Reason.NO_ENTRY_PRICE)
    return rational.scaled(entry, trigger.value)


def _stored(price: Rational) -> Rational:
    fitted = rational.fit_u64(price)
    if fitted is None:
        raise TriggerUnusable(TriggerUnusable.Reason.OUT_OF_RANGE)
    return fitted


async def _mint_info(trading: TradingService, mint: str):
    try:
        info = await trading.rpc.mint_info(mint)
    except ChainError as err:
        raise ServiceUnavailable(err) from None
    if info is None:
        raise UnknownToken(mint)
    return info


async def _buyable_mint(trading: TradingService, telegram_user_id: int, mint: str, largest_lamports: int):
    """The mint, screened now as a buy would be, with the trader's size limit checked (a refusal at once beats one
    hours later), and whether the order is a paper one (the trader's mode now); the buy itself checks everything
    again when it fires."""
    info = await _mint_info(trading, mint)
    screening = screen_mint(info, max_transfer_fee_bps=trading.config.custody.max_transfer_fee_bps)
    if not screening.ok:
        raise TokenRefused(screening.refusals)
    trader = await db_call(load_trader)(telegram_user_id)
    limit = max_trade_lamports(trader.settings, trading.config)
    if largest_lamports > limit:
        raise TradeTooLarge(largest_lamports, limit)
    return info, paper_book.is_paper(trader.settings, trading.config)


async def _price_now(trading: TradingService, mint: str, decimals: int) -> Rational | None:
    try:
        price = (await trading.jupiter.sol_prices([mint])).get(mint)
    except JupiterError:
        return None
    return rational.per_raw_unit(price, decimals) if price else None


@db_call
def _position(trading: TradingService, telegram_user_id: int, mint: str) -> Position:
    """The open position in the trader's book of the moment (paper or real)."""
    trader = load_trader(telegram_user_id)
    return open_position(trader.wallet, mint, paper=paper_book.is_paper(trader.settings, trading.config))
