"""Before a sale a trader asked for: what it would bring in against what the network charges to make it. Selling
dust can cost more in fees than it pays (500 tokens for 0.0000125 SOL, with a 0.0001 SOL priority fee): the bot
then warns and asks instead of going ahead without a word. Read-only; the sale itself checks everything again."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import SOL_MINT, JupiterClient
from kernel.config import TradingConfig
from kernel.db import db_call
from kernel.errors import UserFacingError
from positions.amounts import SellAmount
from positions.models import Position
from positions.risk import slippage_bps
from positions.trading import SIGNATURE_FEE_LAMPORTS


@dataclass(frozen=True)
class SaleEstimate:
    raw: int
    decimals: int
    proceeds_lamports: int  # the quote's expected output
    fee_lamports: int  # the signature fee plus the trader's priority fee (for market levels: its cap)

    @property
    def fee_exceeds_proceeds(self) -> bool:
        return self.fee_lamports > self.proceeds_lamports


async def estimate_sale(*, jupiter: JupiterClient, config: TradingConfig, telegram_user_id: int, mint: str,
                        amount: SellAmount, paper: bool = False) -> SaleEstimate | None:
    """The sale priced by one quote; None when it cannot be priced (no open position, an unusable amount, the
    swap API away): the sale itself then says why, in its own words."""
    position = await _open_position(telegram_user_id, mint, paper)
    if position is None:
        return None
    available = position.remaining_amount_raw - position.reserved_raw
    try:
        raw = amount.to_raw(remaining_raw=available, decimals=position.token_decimals)
    except UserFacingError:
        return None
    if not 0 < raw <= available:
        return None
    settings = position.user.settings
    try:
        quote = await jupiter.quote(input_mint=mint, output_mint=SOL_MINT, amount=raw,
                                    slippage_bps=slippage_bps(settings, config))
    except JupiterError:
        return None
    # A protected sale tips the block engine instead of paying a priority fee (trading.TradingService._priority_fee).
    cost = settings.jito_tip_lamports if settings.mev_protection else settings.priority_fee_lamports
    return SaleEstimate(raw=raw, decimals=position.token_decimals, proceeds_lamports=quote.out_amount,
                        fee_lamports=SIGNATURE_FEE_LAMPORTS + cost)


@db_call
def _open_position(telegram_user_id: int, mint: str, paper: bool) -> Position | None:
    return (Position.objects.filter(user__telegram_user_id=telegram_user_id, token_mint=mint, is_open=True,
                                    paper=paper)
            .select_related("user__settings").first())
