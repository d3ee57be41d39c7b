"""The daily spend window: what counts against the cap, against the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from custody.services import get_or_create_user_wallet
from kernel.config import load_config
from positions.errors import DailySpendCapReached
from positions.models import Trade
from positions.risk import check_buy, daily_spend_cap_lamports, slippage_bps, spent_last_24_hours
from telegrambot.texts import refusal

pytestmark = pytest.mark.django_db
SOL = 10**9


@pytest.fixture
def config():
    from tests.settings import TEST_WALLET_KEY

    return load_config({"WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "MAX_DAILY_SPEND_SOL": "2",
                        "MAX_SLIPPAGE_BPS": "1000", "MAX_POSITION_SIZE_SOL": "5"})


def _buy(wallet, lamports: int, status: str, *, hours_ago: float = 0, side: str = "buy") -> None:
    trade = Trade.objects.create(user=wallet, token_mint="M" * 32, token_decimals=6, side=side, status=status,
                                 signature=f"sig{Trade.objects.count()}", lamports_in=lamports,
                                 last_valid_block_height=1)
    Trade.objects.filter(pk=trade.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))


def test_it_counts_confirmed_and_pending_buys_of_the_last_24_hours_only(config):
    wallet = get_or_create_user_wallet(1, config=config).wallet
    _buy(wallet, SOL // 2, "confirmed")
    _buy(wallet, SOL // 4, "pending", hours_ago=23)
    _buy(wallet, SOL, "failed")  # spent nothing
    _buy(wallet, SOL, "confirmed", hours_ago=25)  # out of the window
    _buy(wallet, SOL, "confirmed", side="sell")  # not a buy
    assert spent_last_24_hours(wallet, timezone.now()) == 3 * SOL // 4


def test_it_refuses_the_buy_that_crosses_the_cap_and_allows_what_is_left(config):
    wallet = get_or_create_user_wallet(2, config=config).wallet
    _buy(wallet, SOL, "confirmed")
    settings = wallet.settings
    assert daily_spend_cap_lamports(settings, config) == 2 * SOL
    check_buy(wallet=wallet, settings=settings, lamports=SOL, config=config, now=timezone.now())
    with pytest.raises(DailySpendCapReached) as refused:
        check_buy(wallet=wallet, settings=settings, lamports=SOL + 1, config=config, now=timezone.now())
    assert "daily spend cap of 2 SOL" in refusal(refused.value) and "1 SOL is left" in refusal(refused.value)


def test_a_users_cap_is_never_above_the_operators_and_slippage_is_clamped(config):
    settings = get_or_create_user_wallet(3, config=config).wallet.settings
    settings.daily_spend_limit_lamports = 50 * SOL
    settings.slippage_bps = 5000
    assert daily_spend_cap_lamports(settings, config) == 2 * SOL
    assert slippage_bps(settings, config) == 1000
    settings.daily_spend_limit_lamports = SOL // 2
    assert daily_spend_cap_lamports(settings, config) == SOL // 2
