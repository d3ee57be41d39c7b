"""Pending actions are typed, and only what this release writes is ever read back as one."""

from __future__ import annotations

import pytest

from telegrambot import pending

MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
ACTIONS = [pending.Buy(MINT, 100_000_000), pending.Buy(MINT, 5, paper=True), pending.Sell(MINT, "25%"),
           pending.Sell(MINT, "all", paper=True), pending.Withdraw(42), pending.ExportKey(), pending.TwoFactorSetup(7),
           pending.TwoFactorOff(), pending.PaperOff()]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.kind + ("-paper" if getattr(action, "paper", 0)
                                                                                 else ""))
def test_every_action_round_trips_through_its_stored_shape(action):
    assert pending.load(pending.dump(action)) == action


def test_the_stored_shapes_are_those_earlier_releases_wrote():
    """A button pressed across an upgrade still works: the tags and field names are the old dicts' keys."""
    assert pending.dump(pending.Withdraw(42)) == {"kind": "withdraw", "withdrawal": 42}
    assert pending.dump(pending.Buy(MINT, 5)) == {"kind": "buy", "mint": MINT, "lamports": 5, "paper": False}
    assert pending.dump(pending.ExportKey()) == {"kind": "export"}


def test_a_buy_or_sale_written_before_paper_trading_existed_is_a_real_one():
    """Entries from before the book was kept with them (no ``paper`` key) meant real trades then."""
    assert pending.load({"kind": "buy", "mint": MINT, "lamports": 5}) == pending.Buy(MINT, 5, paper=False)
    assert pending.load({"kind": "sell", "mint": MINT, "amount": "all"}) == pending.Sell(MINT, "all", paper=False)


@pytest.mark.parametrize("stored", [
    None, "withdraw", [], {}, {"kind": 1}, {"kind": "nuke"},
    {"kind": "withdraw", "destination": "attacker", "lamports": 10**9},  # the shape before withdrawal rows
    {"kind": "withdraw", "withdrawal": "42"}, {"kind": "withdraw", "withdrawal": True},
    {"kind": "buy", "mint": MINT, "lamports": 1.5}, {"kind": "buy", "mint": MINT},
    {"kind": "totp_setup", "message_id": None},
    {"kind": "buy", "mint": MINT, "lamports": 5, "paper": 1}, {"kind": "sell", "mint": MINT, "amount": "all",
                                                                "paper": "true"},
])
def test_anything_else_is_not_an_action(stored):
    assert pending.load(stored) is None
