"""Paper trading in the chat, through the real Application and the Bot API stand-in: every screen says so while it
is on, a paper trade reads as one and links no transaction, a confirmation keeps the book it was asked in, and
going back to real money shows the paper results and asks first."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_asyncio

from positions.models import Order, PaperAccount, Position, Trade
from telegrambot import texts
from tests.e2e.conftest import buttons, running_bot
from wallets.models import UserWallet

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
BANNER = "📝 PAPER MODE"


def sends(localnet) -> int:
    return (localnet.rpc.requests["sendTransaction"] + localnet.lagging_rpc.requests["sendTransaction"]
            + localnet.block_engine.requests["sendBundle"])


async def _started_on_paper(chat, localnet) -> UserWallet:
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    localnet.chain.airdrop(wallet.public_key, 10 * SOL)
    on = await chat.say("/paper on")
    assert "Paper trading is on" in on["text"] and "Paper balance: 10 SOL" in on["text"], on["text"]
    assert "their stop losses and orders keep trading real SOL" in on["text"]  # real ones are not paused
    return wallet


async def test_a_paper_session_in_the_chat_and_the_way_back_to_real_money(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started_on_paper(chat, localnet)
    sol_before = localnet.chain.sol_balance(wallet.public_key)
    jup = localnet.token("JUP")
    sent_before = sends(localnet)
    bought = await chat.final(await chat.say(f"/buy {jup.mint} 1"))
    assert bought["text"].startswith(BANNER) and "Paper-bought" in bought["text"], bought["text"]
    assert "Paper trade: nothing was signed or sent" in bought["text"] and "View transaction" not in bought["text"]
    position = await Position.objects.aget(user=wallet, is_open=True)
    assert position.paper
    shown = await chat.say("/positions")
    assert shown["text"].startswith(BANNER) and "Your paper positions" in shown["text"]
    assert "Paper balance:" in shown["text"]
    half = await chat.final(await chat.press(shown, buttons(shown)["#1 Sell 50%"]))  # the position's own button
    assert "Paper-sold" in half["text"], half["text"]
    for command in ("/wallet", "/settings", "/help", "/orders", "/start"):
        assert (await chat.say(command))["text"].startswith(BANNER), command
    assert "Paper balance:" in (await chat.say("/wallet"))["text"]
    assert sends(localnet) == sent_before and localnet.chain.sol_balance(wallet.public_key) == sol_before
    withdrawal = await chat.say(f"/withdraw {localnet.funded_keypair(sol=0).pubkey()} 1")  # money out is never paper
    assert "of real SOL" in withdrawal["text"] and "this withdrawal sends real SOL" in withdrawal["text"]
    await chat.press(withdrawal, buttons(withdrawal)["Cancel"])
    assert localnet.chain.token_balance(wallet.public_key, jup.mint) == 0

    question = await chat.say("/paper off")
    assert "Back to real money?" in question["text"] and "Paper trades: 2" in question["text"], question["text"]
    assert "Realized PnL:" in question["text"] and "Open paper positions: 1" in question["text"]
    assert (await chat.press(question, buttons(question)["Cancel"]))["text"].startswith(BANNER)  # still on paper
    question = await chat.say("/paper off")
    off = await chat.press(question, buttons(question)["✅ Trade with real SOL"])
    assert "Paper trading is off" in off["text"] and not off["text"].startswith(BANNER)
    assert not (await chat.say("/positions"))["text"].startswith(BANNER)
    real = await chat.final(await chat.say(f"/buy {jup.mint} 0.1"))
    assert real["text"].startswith("✅ Bought"), real["text"]
    assert "View transaction" in real["text"] and sends(localnet) > sent_before
    assert localnet.chain.token_balance(wallet.public_key, jup.mint) > 0
    # The paper position is kept for when the trader comes back.
    assert await Position.objects.filter(user=wallet, paper=True, is_open=True).aexists()
    back = await chat.say("/paper on")
    assert "Open paper positions: 1" in back["text"]


async def _leave_paper(chat) -> None:
    leave = await chat.say("/paper off")
    await chat.press(leave, buttons(leave)["✅ Trade with real SOL"])


async def test_a_button_acts_only_in_the_book_it_was_made_in(bot, chat_factory, localnet):
    """Never real money from a paper screen, nor the reverse: a token card's Buy, Buy X SOL and order buttons, a
    confirmation, a position's Sell and Orders buttons, each pressed after /paper on or off, are refused and
    nothing is traded; pressed back in their own book, they work."""
    chat = chat_factory()
    wallet = await _started_on_paper(chat, localnet)
    jup, bonk = localnet.token("JUP"), localnet.token("BONK")
    paper_card = await chat.say(jup.mint)
    assert paper_card["text"].startswith(BANNER)
    await chat.final(await chat.say(f"/buy {bonk.mint} 0.1"))
    paper_positions = await chat.say("/positions")
    await chat.say("/set confirm on")
    await chat.telegram.next_reply(chat.user_id)
    paper_question = await chat.say(f"/buy {bonk.mint} 0.1")
    assert "Paper-buy" in paper_question["text"] and "✅ Buy on paper" in buttons(paper_question)
    await _leave_paper(chat)
    sent_before = sends(localnet)
    for message, label in [(paper_card, "Buy 0.1 SOL"), (paper_card, "Buy X SOL"), (paper_card, "Limit"),
                           (paper_question, "✅ Buy on paper"), (paper_positions, "#1 Sell 50%"),
                           (paper_positions, "#1 Orders")]:
        refused = await chat.press(message, buttons(message)[label])
        assert "made while you were trading on paper, and you now trade real SOL: nothing was done" in \
            refused["text"], (label, refused["text"])
    assert sends(localnet) == sent_before
    assert await Trade.objects.filter(user=wallet).acount() == 1  # the one paper buy made on purpose above

    real_question = await chat.say(f"/buy {bonk.mint} 0.1")
    real_card = await chat.say(jup.mint)
    await chat.say("/paper on")
    for message, label in [(real_question, "✅ Buy"), (real_card, "Buy 0.1 SOL")]:
        refused = await chat.press(message, buttons(message)[label])
        assert "made for real SOL, and you are now trading on paper: nothing was done" in refused["text"], \
            (label, refused["text"])
    assert sends(localnet) == sent_before and not await Trade.objects.filter(user=wallet, paper=False).aexists()
    asked = await chat.press(paper_card, buttons(paper_card)["Buy 0.1 SOL"])  # back in its own book: it works
    done = await chat.final(await chat.press(asked, buttons(asked)["✅ Buy on paper"]))
    assert "Paper-bought" in done["text"], done["text"]


async def test_paper_orders_placed_in_the_chat_are_paper_orders_and_say_so(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started_on_paper(chat, localnet)
    jup = localnet.token("JUP")
    await chat.final(await chat.say(f"/buy {jup.mint} 0.5"))
    placed = await chat.say(f"/limit {jup.mint} sell 50% at 2x")
    assert "placed" in placed["text"] and "📝 paper:" in placed["text"], placed["text"]
    assert "📝 paper:" in (await chat.say("/orders"))["text"]
    order = await Order.objects.aget(user=wallet)
    assert order.paper


async def test_a_question_asked_in_one_book_is_never_answered_in_the_other(bot, chat_factory, localnet):
    """Buy X SOL or Limit pressed on paper, then /paper off, then the answer typed: nothing is traded or placed,
    as the switch forgets the question (the answer would otherwise buy with real SOL)."""
    chat = chat_factory()
    wallet = await _started_on_paper(chat, localnet)
    card = await chat.say(localnet.token("JUP").mint)
    for label, answer in [("Buy X SOL", "0.1"), ("Limit", "buy 0.1 at -20%")]:
        asked = await chat.press(card, buttons(card)[label])
        assert not asked["text"].startswith("⚠️"), asked["text"]
        await _leave_paper(chat)
        answered = await chat.say(answer)
        assert texts.FREE_TEXT in answered["text"], (label, answered["text"])
        await chat.say("/paper on")
    assert not await Trade.objects.filter(user=wallet).aexists() and not await Order.objects.filter(
        user=wallet).aexists()


async def test_a_forged_button_id_gets_the_not_yours_answer(bot, chat_factory, localnet):
    """An id too large for the database column (it would overflow it) is not the presser's button."""
    chat = chat_factory()
    started = await chat.say("/start")
    for data in ["po:" + "9" * 30, "s:" + "9" * 30 + ":50", "oc:" + "9" * 30]:
        answer = await chat.press(started, data, forge=True)
        assert texts.NOT_YOURS in answer["text"], (data, answer["text"])


async def test_a_paper_buy_beyond_the_paper_balance_says_so(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started_on_paper(chat, localnet)
    await PaperAccount.objects.filter(user=wallet).aupdate(balance_lamports=SOL // 100)
    refused = await chat.final(await chat.say(f"/buy {localnet.token('JUP').mint} 0.1"))
    assert "Not enough paper SOL" in refused["text"] and "paper balance is 0.01 SOL" in refused["text"], \
        refused["text"]
    assert not await Trade.objects.filter(user=wallet).aexists()


async def test_a_paper_reset_waits_for_an_empty_book_then_starts_again(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started_on_paper(chat, localnet)
    jup = localnet.token("JUP")
    await chat.final(await chat.say(f"/buy {jup.mint} 1"))
    refused = await chat.say("/paper reset")
    assert "1 open paper position (sell with /positions)" in refused["text"], refused["text"]
    assert (await PaperAccount.objects.aget(user=wallet)).balance_lamports < 9 * SOL
    await chat.final(await chat.say(f"/sell {jup.mint} all"))
    done = await chat.say("/paper reset")
    assert "Paper book reset" in done["text"] and "after 2 paper trades" in done["text"], done["text"]
    book = await PaperAccount.objects.aget(user=wallet)
    assert book.balance_lamports == book.start_lamports == 10 * SOL
    assert "Paper trades: 0" in (await chat.say("/paper"))["text"]
    assert "Realized PnL (this paper book): 0 SOL" in (await chat.say("/positions"))["text"]  # since the reset


async def test_paper_usage_and_the_states_it_is_already_in(bot, chat_factory, localnet):
    chat = chat_factory()
    await chat.say("/start")
    status = await chat.say("/paper")
    assert "Paper trading is off" in status["text"] and not status["text"].startswith(BANNER)
    assert texts.PAPER_ALREADY_OFF in (await chat.say("/paper off"))["text"]
    assert texts.PAPER_USAGE in (await chat.say("/paper maybe"))["text"]
    await chat.say("/paper on")
    assert texts.PAPER_ALREADY_ON in (await chat.say("/paper on"))["text"]


@pytest_asyncio.fixture
async def paper_bot(bot_config, transactional_db):
    """The whole bot on paper (PAPER_TRADING=true)."""
    async with running_bot(dataclasses.replace(bot_config, paper_trading=True)) as runner:
        yield runner


async def test_on_a_paper_only_bot_every_user_is_on_paper_and_cannot_leave(paper_bot, chat_factory, localnet):
    chat = chat_factory()
    welcome = await chat.say("/start")
    assert welcome["text"].startswith(BANNER) and "a virtual balance of 10 SOL" in welcome["text"], \
        welcome["text"]
    assert texts.PAPER_ONLY_BOT in (await chat.say("/paper off"))["text"]
    bought = await chat.final(await chat.say(f"/buy {localnet.token('JUP').mint} 0.1"))  # no real SOL at all
    assert "Paper-bought" in bought["text"], bought["text"]
