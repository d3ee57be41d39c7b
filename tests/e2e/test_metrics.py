"""The bot's Prometheus series after real trades."""

from __future__ import annotations

import re

import pytest


@pytest.mark.django_db(transaction=True)
async def test_metrics_after_a_buy_and_a_failed_trade_carry_no_user_data(engine, localnet, trader):
    from django.test import AsyncClient

    from positions.errors import ServiceUnavailable

    await trader.buy("BONK", 10**8)
    localnet.jupiter.faults.fail_next(10, status=502)
    with pytest.raises(ServiceUnavailable):
        await trader.buy("BONK", 10**8)
    text = (await AsyncClient().get("/metrics")).content.decode()
    assert re.search(r'trading_bot_trades_total\{side="buy",status="success"\} [1-9]', text)
    assert re.search(r'trading_bot_jupiter_requests_total\{endpoint="/swap/v1/quote"\} [1-9]', text)
    assert "trading_bot_open_positions" in text and "trading_bot_users" in text
    assert "django_http_requests_total_by_method_total" in text
    labels = re.findall(r'="([^"]*)"', text)
    for value in labels:
        assert trader.wallet.public_key not in value and str(trader.id) not in value
        assert localnet.token("BONK").mint not in value
