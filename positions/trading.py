"""Buy and sell: quote, swap, sign, record as pending, send, confirm, apply what the chain says happened.

Round trips before the send are kept to three sequential ones (quote with the balance checks in parallel, swap,
send); the database work in between is local and short. A trader on a market fee level adds a fourth, the fee
market of the quoted route's pools, cached by the gateway for a few seconds. Composing the swap (SWAP_COMPOSE) reads
the blockhash alongside Jupiter's instructions and the route's lookup tables after them (cached a few seconds too,
and the inspector reuses them): one more when not cached.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from django.utils import timezone
from solders.pubkey import Pubkey

from custody import audit
from custody.errors import SwapRefused, SwapWouldFail
from custody.inspection import TOKEN_PROGRAM, InspectedSwap, SwapInspector, SwapRequest
from custody.killswitch import Action as Switch
from custody.killswitch import ensure_allowed
from kernel.chain.compose import TokenAccountClose, account_to_close, composed_swap
from kernel.chain.errors import ChainError, JupiterError, TransactionRejected
from kernel.chain.jito import BlockEngineClient
from kernel.chain.jupiter import SOL_MINT, JupiterClient, SwapTransaction
from kernel.chain.rpc import Confirmation, Holdings, Outcome, RpcGateway, TransactionEffects
from kernel.config import TradingConfig
from kernel.crashpoints import crashpoint
from kernel.db import db_call
from kernel.metrics import PAPER_TRADES, SWAPS_REFUSED, TRADE_SECONDS, TRADES
from positions import paper as paper_book
from positions import services
from positions.amounts import SellAmount
from positions.errors import (
    AlreadySelling,
    ChainShortfall,
    InsufficientBalance,
    InvalidAmount,
    InvalidMint,
    PaperBalanceTooLow,
    PositionChanged,
    RealTradingOff,
    SellAmountTooLarge,
    ServiceUnavailable,
    TokenRefused,
    TradeFailed,
    TradingError,
    UnknownToken,
    WrappedSolMint,
)
from positions.fees import PriorityFee, priority_fee
from positions.models import Position, Trade
from positions.protection import UNPROTECTED, Protection, protection_for
from positions.risk import check_buy, check_sell, daily_spend_cap_lamports, slippage_bps
from positions.screening import screen_mint
from wallets.crypto import Keyring
from wallets.signing import sign_versioned_transaction

logger = logging.getLogger(__name__)


class Step(Enum):
    """How far a trade has come, for a trader watching it (the bot words each step)."""

    QUOTING = "quoting"
    SENDING = "sending"
    CONFIRMING = "confirming"


Progress = Callable[[Step], Awaitable[None]]

SIGNATURE_FEE_LAMPORTS = 5_000
TOKEN_ACCOUNT_SIZE = 165


@dataclass(frozen=True)
class BuyResult:
    signature: str
    mint: str
    decimals: int
    lamports_in: int
    fee_lamports: int
    received_raw: int
    position_id: int
    priority_fee_level: str  # a wallets.models.FeeLevel value
    rent_paid_lamports: int = 0  # funded the new token account
    rent_comes_back: bool = False  # a full exit will close the account and return it (composed swaps)
    tip_lamports: int = 0  # MEV protection's tip, as the landed transaction paid it
    protected: bool = False
    paper: bool = False  # filled on paper at the quote: never signed, never sent
    simulated: bool = False  # the swap was simulated before signing (or, on paper, instead of sending)


@dataclass(frozen=True)
class SellResult:
    signature: str
    mint: str
    decimals: int
    sold_raw: int
    lamports_out: int
    fee_lamports: int
    realized_pnl_lamports: int
    remaining_raw: int
    position_closed: bool
    priority_fee_level: str  # a wallets.models.FeeLevel value
    rent_returned_lamports: int = 0  # the emptied token account's rent, back in the wallet
    tip_lamports: int = 0
    protected: bool = False
    paper: bool = False
    simulated: bool = False


class TradingService:
    """The trading engine. Owns nothing: the RPC gateway, the Jupiter client and the block engine client are its
    owner's to close."""

    def __init__(self, *, rpc: RpcGateway, jupiter: JupiterClient, keyring: Keyring, config: TradingConfig,
                 block_engine: BlockEngineClient | None = None) -> None:
        self.rpc = rpc
        self.jupiter = jupiter
        self.block_engine = block_engine  # MEV protection's way to the leader (None: not configured)
        self.keyring = keyring
        self.config = config
        self.inspector = SwapInspector(rpc, tip_accounts=config.swap_tip_accounts)
        self._turns: dict[str, asyncio.Lock] = {}  # wallet address -> its turn to inspect and send
        self._block_engine_tips_read = False

    async def execute_buy(self, *, telegram_user_id: int, mint: str, lamports: int,
                          progress: Progress | None = None, automatic: bool = False,
                          order_firing_id: int | None = None, paper: bool | None = None) -> BuyResult:
        """Buy ``mint`` for ``lamports``. ``automatic``: no trader is watching (a snipe), so the swap is always
        simulated before signing whatever SWAP_SIMULATION says. ``paper``: in the paper book (None: the trader's
        mode); a paper buy is quoted, built and inspected like a real one, then filled at the quote: never signed
        or sent."""
        started = time.monotonic()
        mint = validate_mint(mint)
        if lamports <= 0:
            raise InvalidAmount(InvalidAmount.Kind.BUY_NOT_POSITIVE)
        trader, book = await _load_trader_for_buy(telegram_user_id, lamports, self.config, mint, paper)
        await _say(progress, Step.QUOTING)
        settings = trader.settings
        protection = await self._protection(settings)
        quote, mint_info, holdings, rent = await _gather_first_round(
            self.jupiter.quote(input_mint=SOL_MINT, output_mint=mint, amount=lamports,
                               slippage_bps=slippage_bps(settings, self.config)),
            self.rpc.mint_info(mint), self.rpc.holdings(trader.wallet.public_key),  # the inspector's "before"
            self.rpc.rent_exempt_minimum(TOKEN_ACCOUNT_SIZE),  # cached after the first call
        )
        crashpoint("buy.quoted")
        if mint_info is None:
            raise UnknownToken(mint)
        screening = screen_mint(mint_info, max_transfer_fee_bps=self.config.custody.max_transfer_fee_bps)
        if not screening.ok:
            raise TokenRefused(screening.refusals)
        needed = lamports + 2 * SIGNATURE_FEE_LAMPORTS + settings.priority_fee_lamports + protection.tip_lamports
        # A new token account must be created and funded; the real wallet's decides, or the paper book's.
        real_needed = needed + (rent if holdings.token_amount(mint) is None else 0)
        paper_needed = needed + (0 if book.has_token_account else rent)
        if book.paper:
            if book.balance < paper_needed:
                raise PaperBalanceTooLow(paper_needed, book.balance)
        elif holdings.sol < real_needed:
            raise InsufficientBalance(real_needed, holdings.sol)
        if isinstance(quote, BaseException):
            raise _service_error(quote)
        fee = await self._priority_fee(settings, quote, protection)
        swap = await self._swap(quote, trader.wallet.public_key, fee.lamports, protection)
        request = SwapRequest(owner=trader.wallet.public_key, side="buy", mint=mint, token_program=mint_info.program_id,
                              amount=lamports, slippage_bps=slippage_bps(settings, self.config),
                              priority_fee_cap=settings.priority_fee_lamports, tip_cap=protection.tip_lamports)
        async with self._turn(trader.wallet.public_key) as turn:
            # On paper, simulated only when the real wallet could pay for the real swap (or the simulation fails).
            inspected = await self._inspect(swap, request, quote, holdings, trader, automatic=automatic,
                                            may_simulate=not book.paper or holdings.sol >= real_needed,
                                            paper=book.paper)
            if book.paper:
                turn.end()
                return await self._fill_paper_buy(trader, mint, mint_info.decimals, quote, fee, protection, rent,
                                                  inspected, order_firing_id)
            signed = sign_versioned_transaction(wallet=trader.wallet, transaction=inspected.transaction,
                                                keyring=self.keyring)
            crashpoint("buy.signed")
            pending = await db_call(services.record_pending_buy)(
                wallet=trader.wallet, mint=mint, decimals=mint_info.decimals, lamports_in=quote.in_amount,
                quoted_out=quote.out_amount, min_out=quote.min_out_amount, signature=str(signed.signatures[0]),
                last_valid_block_height=swap.last_valid_block_height,
                spend_cap_lamports=daily_spend_cap_lamports(settings, self.config), signed=bytes(signed),
                order_firing_id=order_firing_id)
            crashpoint("buy.recorded")
            trade = await self._land(pending, signed, trader.wallet.public_key, mint, progress, side="buy",
                                     turn=turn, protection=protection)
        TRADE_SECONDS.labels(side="buy").observe(time.monotonic() - started)
        return self._buy_result(trade, mint, fee, protection, inspected)

    async def execute_sell(self, *, telegram_user_id: int, mint: str, amount: SellAmount,
                           progress: Progress | None = None, automatic: bool = False,
                           order_firing_id: int | None = None, paper: bool | None = None) -> SellResult:
        """Sell ``amount`` of the open position in ``mint``. ``automatic``: a stop-loss / take-profit sale with no
        trader watching, always simulated before signing. ``paper``: the paper book's position (None: the trader's
        mode), filled at the quote, never signed or sent."""
        started = time.monotonic()
        mint = validate_mint(mint)
        trader, position = await _load_trader_and_position(telegram_user_id, mint, self.config, paper)
        paper = position.paper
        available = position.remaining_amount_raw - position.reserved_raw
        if available == 0:
            raise AlreadySelling()
        raw = amount.to_raw(remaining_raw=available, decimals=position.token_decimals)
        if raw > available:
            raise SellAmountTooLarge(raw, available, position.token_decimals, position.reserved_raw)
        await _say(progress, Step.QUOTING)
        protection = await self._protection(trader.settings)
        quote, holdings = await _gather_first_round(
            self.jupiter.quote(input_mint=mint, output_mint=SOL_MINT, amount=raw,
                               slippage_bps=slippage_bps(trader.settings, self.config)),
            self.rpc.holdings(trader.wallet.public_key))  # the chain's balance, and the inspector's "before"
        on_chain = holdings.token_amount(mint) or 0
        crashpoint("sell.quoted")
        if not paper and on_chain < raw:
            await _explain_shortfall(trader, position)
            logger.error("Ledger/chain mismatch: position %s expects %d raw units, the chain holds %d",
                         position.pk, raw, on_chain)
            raise ChainShortfall()
        if isinstance(quote, BaseException):
            raise _service_error(quote)
        fee = await self._priority_fee(trader.settings, quote, protection)
        swap = await self._swap(quote, trader.wallet.public_key, fee.lamports, protection,
                                close=account_to_close(holdings, owner=trader.wallet.public_key, mint=mint,
                                                       selling=raw))
        request = SwapRequest(owner=trader.wallet.public_key, side="sell", mint=mint,
                              token_program=holdings.token_program(mint) or TOKEN_PROGRAM, amount=raw,
                              slippage_bps=slippage_bps(trader.settings, self.config),
                              priority_fee_cap=trader.settings.priority_fee_lamports, tip_cap=protection.tip_lamports)
        async with self._turn(trader.wallet.public_key) as turn:
            try:
                inspected = await self._inspect(swap, request, quote, holdings, trader, automatic=automatic,
                                                may_simulate=not paper or on_chain >= raw, paper=paper)
            except SwapWouldFail:
                if not paper:
                    await _explain_failed_sale(trader, mint, raw)  # another sale (a monitor's, a worker's) took them
                raise
            if paper:
                turn.end()
                return await self._fill_paper_sell(trader, mint, raw, quote, fee, protection, inspected,
                                                   order_firing_id)
            signed = sign_versioned_transaction(wallet=trader.wallet, transaction=inspected.transaction,
                                                keyring=self.keyring)
            crashpoint("sell.signed")
            pending = await db_call(services.record_pending_sell)(
                wallet=trader.wallet, mint=mint, raw=raw, quoted_out=quote.out_amount, min_out=quote.min_out_amount,
                signature=str(signed.signatures[0]), last_valid_block_height=swap.last_valid_block_height,
                signed=bytes(signed), order_firing_id=order_firing_id)
            crashpoint("sell.recorded")
            trade = await self._land(pending, signed, trader.wallet.public_key, mint, progress, side="sell",
                                     turn=turn, protection=protection)
        TRADE_SECONDS.labels(side="sell").observe(time.monotonic() - started)
        return await self._sell_result(trade, mint, fee, protection, inspected)

    async def _fill_paper_buy(self, trader: services.Trader, mint: str, decimals: int, quote, fee: PriorityFee,
                              protection: Protection, rent: int, inspected: InspectedSwap,
                              order_firing_id: int | None) -> BuyResult:
        """The paper end of a buy: filled at the quote in the paper book. Nothing here signs or sends."""
        trade = await db_call(paper_book.fill_buy)(
            wallet=trader.wallet, mint=mint, decimals=decimals, lamports_in=quote.in_amount,
            quoted_out=quote.out_amount, min_out=quote.min_out_amount, costs=self._paper_costs(fee, protection, rent),
            config=self.config, spend_cap_lamports=daily_spend_cap_lamports(trader.settings, self.config),
            order_firing_id=order_firing_id)
        PAPER_TRADES.labels(side="buy").inc()
        return self._buy_result(trade, mint, fee, protection, inspected)

    async def _fill_paper_sell(self, trader: services.Trader, mint: str, raw: int, quote, fee: PriorityFee,
                               protection: Protection, inspected: InspectedSwap,
                               order_firing_id: int | None) -> SellResult:
        """The paper end of a sale: filled at the quote in the paper book. Nothing here signs or sends."""
        trade = await db_call(paper_book.fill_sell)(
            wallet=trader.wallet, mint=mint, raw=raw, quoted_out=quote.out_amount, min_out=quote.min_out_amount,
            costs=self._paper_costs(fee, protection), config=self.config, order_firing_id=order_firing_id)
        PAPER_TRADES.labels(side="sell").inc()
        return await self._sell_result(trade, mint, fee, protection, inspected)

    def _buy_result(self, trade: Trade, mint: str, fee: PriorityFee, protection: Protection,
                    inspected: InspectedSwap) -> BuyResult:
        return BuyResult(signature=trade.signature, mint=mint, decimals=trade.token_decimals,
                         lamports_in=trade.lamports_in, fee_lamports=trade.fee_lamports,
                         received_raw=trade.amount_out_raw, position_id=trade.position_id,
                         priority_fee_level=fee.level, rent_paid_lamports=trade.rent_paid_lamports,
                         rent_comes_back=self.config.swap_compose, tip_lamports=trade.tip_lamports,
                         protected=protection.on, paper=trade.paper, simulated=inspected.simulated)

    @staticmethod
    async def _sell_result(trade: Trade, mint: str, fee: PriorityFee, protection: Protection,
                           inspected: InspectedSwap) -> SellResult:
        position = await db_call(Position.objects.get)(pk=trade.position_id)
        return SellResult(signature=trade.signature, mint=mint, decimals=trade.token_decimals,
                          sold_raw=trade.amount_in_raw, lamports_out=trade.lamports_out,
                          fee_lamports=trade.fee_lamports, realized_pnl_lamports=trade.realized_pnl_lamports,
                          remaining_raw=position.remaining_amount_raw, position_closed=not position.is_open,
                          priority_fee_level=fee.level, rent_returned_lamports=trade.rent_returned_lamports,
                          tip_lamports=trade.tip_lamports, protected=protection.on, paper=trade.paper,
                          simulated=inspected.simulated)

    @staticmethod
    def _paper_costs(fee: PriorityFee, protection: Protection, rent: int = 0) -> paper_book.Costs:
        """What the real swap would have paid: the signature fee and its priority fee, or its tip when protected."""
        return paper_book.Costs(fee_lamports=SIGNATURE_FEE_LAMPORTS + fee.lamports,
                                tip_lamports=protection.tip_lamports if protection.on else 0, rent_lamports=rent)

    @property
    def tip_accounts(self) -> frozenset[str]:
        """Every tip account a swap may pay (configured, and the block engine's once read): what a tip is read from."""
        return self.inspector.tip_accounts

    async def known_tip_accounts(self) -> frozenset[str] | None:
        """``tip_accounts``, with the block engine's read first if it is configured and answers (reconciliation
        after a restart must see the tips of the protected trades it settles, and tell them from public ones).
        None while a configured block engine's accounts have never been read: a protected trade cannot be told
        apart then."""
        if self.block_engine is not None and not self._block_engine_tips_read:
            try:
                self.inspector.add_tip_accounts(await self.block_engine.tip_accounts())
                self._block_engine_tips_read = True
            except ChainError as err:
                logger.warning("The block engine's tip accounts are unknown for now (%s)", err)
                return None
        return self.tip_accounts

    @staticmethod
    async def _tip_account(protection: Protection) -> str | None:
        """One of the block engine's tip accounts, at random as Jito asks (spreads write locks); None unprotected."""
        if protection.block_engine is None:
            return None
        return secrets.choice(await protection.block_engine.tip_accounts())

    async def _protection(self, settings) -> Protection:
        return await protection_for(settings, block_engine=self.block_engine, inspector=self.inspector)

    async def _priority_fee(self, settings, quote, protection: Protection = UNPROTECTED) -> PriorityFee:
        """The fee this trade offers; the trader's ``priority_fee_lamports`` stays the inspector's cap either way.
        A protected trade tips the block engine instead (Jupiter's swap carries one or the other)."""
        if protection.on:
            return PriorityFee(0, settings.priority_fee_level)
        try:
            return await priority_fee(self.rpc, settings, quote)
        except ChainError as err:
            raise ServiceUnavailable(err) from None

    async def _swap(self, quote, user_public_key: str, priority_fee: int, protection: Protection = UNPROTECTED, *,
                    close: TokenAccountClose | None = None) -> SwapTransaction:
        """The swap transaction to inspect: composed from Jupiter's instructions (SWAP_COMPOSE), with ``close``
        closing the token account a full exit empties and, when protected, the bot's own tip to one of the block
        engine's tip accounts; or as Jupiter's /swap builds it (which closes nothing, and adds the tip itself when
        asked for ``jitoTipLamports``)."""
        try:
            if self.config.swap_compose:
                tip_account = await self._tip_account(protection)
                return await composed_swap(self.rpc, self.jupiter, quote=quote, owner=user_public_key,
                                           priority_fee_lamports=priority_fee, close=close, tip_account=tip_account,
                                           tip_lamports=protection.tip_lamports if tip_account else 0)
            return await self.jupiter.swap_transaction(quote=quote, user_public_key=user_public_key,
                                                       priority_fee_lamports=priority_fee,
                                                       jito_tip_lamports=protection.tip_lamports)
        except (JupiterError, ChainError) as err:
            raise _service_error(err) from None

    async def _inspect(self, swap, request: SwapRequest, quote, holdings: Holdings, trader: services.Trader, *,
                       automatic: bool, may_simulate: bool = True, paper: bool = False) -> InspectedSwap:
        """Nothing is signed that the inspector did not clear; a refusal is audited, counted and logged. A paper
        trade's refusal counts too (the swap API that sent it is the one real trades use), marked paper."""
        simulate = may_simulate and (automatic or self.config.swap_simulation == "all")
        try:
            return await self.inspector.inspect(swap.transaction, request, quote=quote, holdings=holdings,
                                                simulate=simulate)
        except SwapRefused as refused:
            SWAPS_REFUSED.labels(check=refused.check).inc()
            logger.warning("Refused a %s swap transaction for wallet %s before signing (%s)", request.side,
                           request.owner, refused)
            await db_call(audit.record)(
                audit.Action.SWAP_REFUSED, actor=audit.BOT, source="automatic" if automatic else audit.TELEGRAM,
                user=trader.wallet, check=refused.check, finding=refused.finding, facts=refused.facts,
                side=request.side, mint=request.mint, amount=request.amount, paper=paper)
            raise
        except ChainError as err:
            raise ServiceUnavailable(err) from None

    def _turn(self, owner: str) -> _Turn:
        return _Turn(self._turns.setdefault(owner, asyncio.Lock()))

    async def _land(self, pending: services.PendingTrade, signed, owner: str, mint: str, progress: Progress | None,
                    *, side: str, turn: _Turn, protection: Protection = UNPROTECTED) -> Trade:
        """Send (and resend) until landed or expired, then apply. Whatever happens, the pending row already exists
        for reconciliation. The wallet's turn ends with the first send: the next trade of it may be inspected."""
        async def sent() -> None:
            turn.end()
            crashpoint(f"{side}.sent")
            await _say(progress, Step.CONFIRMING)

        await _say(progress, Step.SENDING)
        try:
            confirmation = await self.rpc.land(signed, last_valid_block_height=pending.last_valid_block_height,
                                               on_sent=sent, on_resent=lambda: crashpoint(f"{side}.resent"),
                                               block_engine=protection.block_engine)
            effects = await self._effects(pending.signature, owner, mint, confirmation)
        except TransactionRejected as rejected:
            await db_call(services.fail_trade)(trade_id=pending.trade_id, error=rejected.reason)
            TRADES.labels(status="failed", side=side).inc()
            raise TradeFailed(TradeFailed.Reason.REJECTED, pending.signature, rejection=rejected) from None
        except ChainError:
            TRADES.labels(status="unknown", side=side).inc()
            raise TradeFailed(TradeFailed.Reason.STATUS_UNKNOWN, pending.signature) from None
        crashpoint(f"{side}.confirmed")
        trade = await self._apply(pending, confirmation, effects, side)
        crashpoint(f"{side}.applied")
        return trade

    async def _effects(self, signature: str, owner: str, mint: str,
                       confirmation: Confirmation) -> TransactionEffects | None:
        if confirmation.outcome is Outcome.EXPIRED:
            return None
        for delay in (0, 0.05, 0.1, 0.2, 0.4, 0.8):
            await asyncio.sleep(delay)
            effects = await self.rpc.transaction_effects(signature, owner=owner, mint=mint,
                                                         tip_accounts=self.tip_accounts)
            if effects is not None:
                return effects
        raise TradeFailed(TradeFailed.Reason.DETAILS_PENDING, signature)

    async def _apply(self, pending: services.PendingTrade, confirmation: Confirmation,
                     effects: TransactionEffects | None, side: str) -> Trade:
        if confirmation.outcome is Outcome.CONFIRMED:
            trade = await db_call(services.confirm_trade)(trade_id=pending.trade_id, effects=effects)
            TRADES.labels(status="success", side=side).inc()
            return trade
        await db_call(services.fail_trade)(trade_id=pending.trade_id, error=confirmation.error, effects=effects)
        TRADES.labels(status="failed", side=side).inc()
        if confirmation.outcome is Outcome.EXPIRED:
            raise TradeFailed(TradeFailed.Reason.EXPIRED, pending.signature)
        raise TradeFailed(TradeFailed.Reason.REJECTED, pending.signature,
                          rejection=TransactionRejected(confirmation.error))


def validate_mint(mint: str) -> str:
    text = (mint or "").strip()
    if not 32 <= len(text) <= 44:
        raise InvalidMint(text)
    try:
        Pubkey.from_string(text)
    except ValueError:
        raise InvalidMint(text) from None
    if text == SOL_MINT:
        raise WrappedSolMint()
    return text


class _Turn:
    """A wallet's turn, from its swap's inspection to the first send. The inspector judges a simulation only on a
    consistent picture of the wallet (its accounts equal before and after): the same wallet's other trades sending
    meanwhile (a monitor selling ten positions, a burst of snipes) would keep changing it. Taking turns keeps the
    picture still for the few milliseconds inspection needs; confirming, which takes long, is not in the turn."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock, self._held = lock, False

    async def __aenter__(self) -> _Turn:
        await self._lock.acquire()
        self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.end()

    def end(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


async def _say(progress: Progress | None, step: Step) -> None:
    if progress is not None:
        await progress(step)


async def _gather_first_round(quote, *reads):
    """Run the quote and the reads in parallel. Read failures raise; a quote failure is returned, so that a
    better-explained error (unknown token, low balance) can win over Jupiter's."""
    results = await asyncio.gather(quote, *reads, return_exceptions=True)
    for result in results[1:]:
        if isinstance(result, ChainError):
            raise ServiceUnavailable(result)
        if isinstance(result, BaseException):
            raise result
    if isinstance(results[0], BaseException) and not isinstance(results[0], JupiterError | ChainError):
        raise results[0]
    return results


def _service_error(err: BaseException) -> TradingError:
    if isinstance(err, JupiterError | ChainError):
        return ServiceUnavailable(err)
    return TradingError()


@dataclass(frozen=True)
class _Book:
    """Which book a trade is for; for a paper buy, the paper book's balance and whether it has the token account."""

    paper: bool
    balance: int = 0
    has_token_account: bool = False


def _which_book(trader: services.Trader, config: TradingConfig, requested: bool | None) -> bool:
    """The trader's mode unless the caller says (a monitor selling a real position of a trader now on paper); a real
    trade is refused outright on a bot the operator runs on paper."""
    if requested is None:
        return paper_book.is_paper(trader.settings, config)
    if not requested and config.paper_trading:
        raise RealTradingOff()
    return requested


@db_call
def _load_trader_for_buy(telegram_user_id: int, lamports: int, config: TradingConfig, mint: str,
                         paper: bool | None) -> tuple[services.Trader, _Book]:
    ensure_allowed(Switch.BUYS, telegram_user_id)
    trader = services.load_trader(telegram_user_id)
    paper = _which_book(trader, config, paper)
    check_buy(wallet=trader.wallet, settings=trader.settings, lamports=lamports, config=config, now=timezone.now(),
              paper=paper)
    if not paper:
        return trader, _Book(paper=False)
    return trader, _Book(paper=True, balance=paper_book.book(trader.wallet, config).balance_lamports,
                         has_token_account=paper_book.holds_token_account(trader.wallet, mint,
                                                                          compose=config.swap_compose))


@db_call
def _explain_shortfall(trader: services.Trader, loaded: Position) -> None:
    """The chain holds less than the position said a moment ago: usually a concurrent sell (another worker's, the
    monitor's) just landed, in flight (reserved) or already applied (the position holds less than when it was
    loaded). Only a position unchanged since is a real mismatch between the ledger and the chain."""
    position = services.open_position(trader.wallet, loaded.token_mint)  # NoOpenPosition if sold meanwhile
    if position.reserved_raw > 0:
        raise AlreadySelling()
    if position.remaining_amount_raw != loaded.remaining_amount_raw:
        raise PositionChanged(position.remaining_amount_raw, position.token_decimals)


@db_call
def _explain_failed_sale(trader: services.Trader, mint: str, raw: int) -> None:
    """The simulated sale ran short of tokens: usually another sale of this position landed since it was loaded.
    Answer as reserving the amount would have (the check the simulation now runs ahead of)."""
    position = services.open_position(trader.wallet, mint)  # NoOpenPosition if it has been sold meanwhile
    available = position.remaining_amount_raw - position.reserved_raw
    if raw > available:
        raise SellAmountTooLarge(raw, available, position.token_decimals, position.reserved_raw)
    if position.reserved_raw > 0:
        raise AlreadySelling()


@db_call
def _load_trader_and_position(telegram_user_id: int, mint: str, config: TradingConfig,
                              paper: bool | None) -> tuple[services.Trader, Position]:
    ensure_allowed(Switch.SELLS, telegram_user_id)
    trader = services.load_trader(telegram_user_id)
    check_sell(wallet=trader.wallet)
    return trader, services.open_position(trader.wallet, mint, paper=_which_book(trader, config, paper))
