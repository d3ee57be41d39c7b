from decimal import Decimal

import pytest

from telegrambot import keyboards, parsing
from telegrambot.parsing import (
    ParseError,
    parse_buy_args,
    parse_percentage_or_off,
    parse_priority_fee,
    parse_sell_args,
    parse_slippage_bps,
    parse_withdraw_args,
)

MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


def test_buy_args():
    args = parse_buy_args([MINT, "0.25"])
    assert args.mint == MINT and args.lamports == 250_000_000


@pytest.mark.parametrize(("args", "message"), [
    ([], "Usage: /buy"), ([MINT], "Usage: /buy"), (["abc", "1"], "not a valid token mint address"),
    ([MINT, "1e309"], "not a plain number"), ([MINT, "-1"], "negative"), ([MINT, "0"], "more than zero"),
    ([MINT, "NaN"], "not a plain number"), ([MINT, "x" * 10_000], "far too long"), (["1" * 44, "1"], "32 bytes"),
    ([MINT, "1000000000.000000001"], "more than all the SOL"), ([MINT, "9223372037"], "more than all the SOL"),
])
def test_bad_buy_args(args, message):
    with pytest.raises(ParseError) as caught:
        parse_buy_args(args)
    assert message in caught.value.user_message


def test_sell_args_accept_the_seed_forms():
    assert str(parse_sell_args([MINT, "500"]).amount) == "500"
    assert str(parse_sell_args([MINT, "all"]).amount) == "all"
    assert str(parse_sell_args([MINT, "50%"]).amount) == "50%"


def test_withdraw_all_and_amount():
    assert parse_withdraw_args([MINT, "all"]).lamports is None
    assert parse_withdraw_args([MINT, "1.5"]).lamports == 1_500_000_000


@pytest.mark.parametrize(("text", "bps"), [("1", 100), ("0.5%", 50), ("12.25", 1225)])
def test_slippage(text, bps):
    assert parse_slippage_bps(text) == bps


@pytest.mark.parametrize("text", ["0", "51", "1.234", "abc", "-1"])
def test_bad_slippage(text):
    with pytest.raises(ParseError):
        parse_slippage_bps(text)


def test_percentages_can_be_turned_off():
    from decimal import Decimal

    assert parse_percentage_or_off("off", name="Stop loss", high=Decimal(99)) is None
    assert parse_percentage_or_off("20", name="Stop loss", high=Decimal(99)) == Decimal(20)


def test_priority_fee_in_sol():
    assert parse_priority_fee("0.0001") == 100_000
    assert parse_priority_fee("0") == 0


@pytest.mark.parametrize("data", [None, "", "zz:1", "m", "s:1", "b:x", "ok:", "m:a:b", "é:1", "x" * 65])
def test_callback_data_we_never_issued_is_rejected(data):
    assert keyboards.parse(data) is None


def test_every_issued_callback_fits_telegrams_limit_and_parses():
    markups = [keyboards.main_menu(), keyboards.token_card(MINT), keyboards.position_buttons([123456789]),
               keyboards.confirm("abcdefgh", "Buy"), keyboards.settings()]
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                assert len(button.callback_data.encode()) <= 64
                assert keyboards.parse(button.callback_data) is not None


def test_every_button_kind_has_exactly_one_handler_and_an_argument_count():
    from telegrambot.handlers.router import _BUTTONS

    assert set(_BUTTONS) == set(keyboards.Press) == set(keyboards.ARGUMENTS)
    assert len({kind.value for kind in keyboards.Press}) == len(keyboards.Press)  # codes never shared


def test_buttons_already_in_chats_keep_their_codes():
    """Callback data is stored in every chat's old messages: a code renamed would strand those buttons."""
    assert keyboards.parse("m:pos") == keyboards.Callback(keyboards.Press.MENU, ("pos",))
    assert keyboards.parse("wc:12").kind is keyboards.Press.CANCEL_WITHDRAWAL
    assert keyboards.parse("bx:" + MINT).kind is keyboards.Press.BUY_CUSTOM


def test_the_settings_vocabulary_names_exactly_the_settings_the_domain_knows():
    from custody.services import SETTING_FIELDS
    from telegrambot import setting_words

    assert set(setting_words.BY_KEY) == set(SETTING_FIELDS)
    names = [name for setting in setting_words.SETTINGS for name in setting.names]
    assert len(names) == len(set(names))  # no name means two settings
    assert all(name == name.lower() for name in names)


def test_fee_levels_read_as_traders_type_them():
    assert [parsing.parse_fee_level(text) for text in ("fixed", " Fast", "TURBO", "custom")] == [
        "fixed", "fast", "turbo", "fixed"]  # "custom" (other bots' word) is the trader's own amount
    with pytest.raises(parsing.ParseError, match="fixed, fast or turbo"):
        parsing.parse_fee_level("ludicrous")


def test_a_positions_threshold_can_be_off_or_follow_the_default():
    from positions.models import THRESHOLD_OFF
    from telegrambot.parsing import parse_position_threshold

    assert parse_position_threshold("off", name="Stop loss", high=Decimal(99)) == THRESHOLD_OFF
    assert parse_position_threshold("OFF", name="Stop loss", high=Decimal(99)) == THRESHOLD_OFF
    assert parse_position_threshold("default", name="Stop loss", high=Decimal(99)) is None
    assert parse_position_threshold("15%", name="Stop loss", high=Decimal(99)) == Decimal(15)
    with pytest.raises(ParseError):
        parse_position_threshold("0.01", name="Stop loss", high=Decimal(99))


def test_invisible_characters_are_removed_from_addresses_amounts_and_arguments():
    from telegrambot.parsing import parse_address, parse_sol, visible, visible_args

    assert parse_address(f"\u200f{MINT}\u200b") == MINT
    assert parse_address(f"{MINT[:5]}\u2060{MINT[5:]}\ufeff") == MINT
    assert parse_sol("\u200e0.5\u200b") == 500_000_000
    assert visible_args([f"\u202e{MINT}", "\u200b", "1\u00ad"]) == [MINT, "1"]
    assert parse_buy_args([f"{MINT}\u200b", "\u200b", "0.25"]).lamports == 250_000_000
    assert visible("a\u3164b\u034fc") == "abc"
