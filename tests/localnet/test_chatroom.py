"""The person's side of the Telegram stand-in (/chat/…), which the sandbox's web chat page reads and types through:
every message, edit, deletion and the command menu, in order, with the HTML the bot sent."""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request

import pytest

_chat_ids = itertools.count(5_880_000)  # a range no other test chats in (the room keeps every event)


@pytest.fixture
def chat(telegram):
    return Room(telegram, next(_chat_ids))


class Room:
    def __init__(self, telegram, chat_id: int) -> None:
        self.telegram, self.chat_id = telegram, chat_id
        self.prefix = f"{telegram.url}/chat/{telegram.token}/{chat_id}"

    def get(self, action: str, **query) -> dict:
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return _call(urllib.request.Request(f"{self.prefix}/{action}?{suffix}"))

    def events(self, after: int = 0, **query) -> list[dict]:
        """This chat's own events (the command menu, which every chat shares, left out)."""
        return [e for e in self.get("events", after=after, **query)["events"] if e["kind"] != "commands"]

    def post(self, action: str, body: dict) -> dict:
        return _call(urllib.request.Request(f"{self.prefix}/{action}", data=json.dumps(body).encode(),
                                            headers={"Content-Type": "application/json"}))

    def bot(self, method: str, **params) -> dict:
        request = urllib.request.Request(f"{self.telegram.url}/bot{self.telegram.token}/{method}",
                                         data=json.dumps({"chat_id": self.chat_id, **params}).encode(),
                                         headers={"Content-Type": "application/json"})
        return _call(request)["result"]


def _call(request) -> dict:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        return {"status": err.code, **json.loads(err.read())}


def test_what_the_person_says_reaches_the_bot_as_an_update_and_shows_in_the_chat(chat, telegram):
    assert chat.post("say", {"text": "/start"})["ok"]
    events = chat.events()
    assert [(e["kind"], e["message"]["text"], e["message"]["from_bot"]) for e in events] == \
        [("message", "/start", False)]
    update = telegram._getUpdates({"offset": 0})[-1]
    assert update["message"]["text"] == "/start" and update["message"]["entities"][0]["type"] == "bot_command"


def test_the_bot_s_html_edits_and_deletions_arrive_in_order(chat):
    keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    sent = chat.bot("sendMessage", text="<b>Hi</b> &lt;you&gt;", parse_mode="HTML", reply_markup=keyboard)
    assert sent["text"] == "Hi <you>"  # what the bot's own API answers: parsed, as Telegram does
    chat.bot("editMessageText", message_id=sent["message_id"], text="<i>Bye</i>", parse_mode="HTML")
    chat.bot("editMessageReplyMarkup", message_id=sent["message_id"], reply_markup="")
    chat.bot("deleteMessage", message_id=sent["message_id"])
    events = chat.events()
    assert [e["kind"] for e in events] == ["message", "edit", "edit", "delete"]
    assert events[0]["html"] == "<b>Hi</b> &lt;you&gt;" and events[0]["message"]["reply_markup"] == keyboard
    assert events[1]["html"] == events[2]["html"] == "<i>Bye</i>" and "reply_markup" not in events[2]["message"]
    assert events[3]["message_id"] == sent["message_id"]
    assert chat.events(events[-1]["seq"]) == []


def test_plain_text_from_the_bot_is_escaped(chat):
    chat.bot("sendMessage", text="a <b> is not bold here")
    assert chat.events()[0]["html"] == "a &lt;b&gt; is not bold here"


def test_a_press_of_an_offered_button_is_a_callback_query_and_others_are_refused(chat, telegram):
    sent = chat.bot("sendMessage", text="Pick", reply_markup={"inline_keyboard": [[{"text": "A",
                                                                                     "callback_data": "a"}]]})
    assert chat.post("press", {"message_id": sent["message_id"], "data": "a"})["ok"]
    query = telegram._getUpdates({"offset": 0})[-1]["callback_query"]
    assert query["data"] == "a" and query["from"]["id"] == chat.chat_id
    refused = chat.post("press", {"message_id": sent["message_id"], "data": "forged"})
    assert refused["status"] == 400 and "no longer on the message" in refused["description"]
    assert chat.post("press", {"message_id": 10**9, "data": "a"})["status"] == 400


def test_the_command_menu_is_every_chat_s(chat, telegram):
    commands = [{"command": "start", "description": "Wallet and menu"}]
    _call(urllib.request.Request(f"{telegram.url}/bot{telegram.token}/setMyCommands",
                                 data=json.dumps({"commands": commands}).encode(),
                                 headers={"Content-Type": "application/json"}))
    answer = chat.get("events", after=0)
    assert answer["commands"] == commands
    assert any(e["kind"] == "commands" and e["commands"] == commands for e in answer["events"])


def test_events_long_poll_until_something_happens(chat):
    start = max((e["seq"] for e in chat.get("events", after=0)["events"]), default=0)
    typed = threading.Timer(0.3, lambda: chat.post("say", {"text": "later"}))
    typed.start()
    events = chat.events(start, timeout=20)  # asked before anything happened: the answer waited for it
    typed.join()
    assert [e["message"]["text"] for e in events if e["kind"] == "message"] == ["later"]


def test_a_wrong_token_or_bad_input_is_refused(chat, telegram):
    wrong = _call(urllib.request.Request(f"{telegram.url}/chat/nope/{chat.chat_id}/events"))
    assert wrong["status"] == 401
    assert chat.post("say", {"text": "   "})["status"] == 400
    assert chat.post("say", {"text": "x" * 4097})["status"] == 400
    assert _call(urllib.request.Request(f"{telegram.url}/chat/{telegram.token}/abc/events"))["status"] == 400


def test_the_token_list_has_prices_and_a_pump_moves_one(chat, localnet):
    tokens = {t["symbol"]: t for t in chat.get("tokens")["tokens"]}
    assert tokens["WIF"]["mint"] == localnet.token("WIF").mint and tokens["WIF"]["movable"]
    assert not tokens["MAXI"]["movable"]
    assert chat.post("move", {"symbol": "MAXI", "kind": "rug"})["status"] == 400
    assert chat.post("move", {"symbol": "WIF", "kind": "explode"})["status"] == 400


def test_a_button_s_answer_with_a_text_is_the_chat_s_toast(chat, telegram):
    sent = chat.bot("sendMessage", text="Pick", reply_markup={"inline_keyboard": [[{"text": "A",
                                                                                     "callback_data": "a"}]]})
    chat.post("press", {"message_id": sent["message_id"], "data": "a"})
    query = telegram._getUpdates({"offset": 0})[-1]["callback_query"]
    assert _call(urllib.request.Request(f"{telegram.url}/bot{telegram.token}/answerCallbackQuery",
                                        data=json.dumps({"callback_query_id": query["id"], "text": "Slow down",
                                                         "show_alert": True}).encode(),
                                        headers={"Content-Type": "application/json"}))["ok"]
    answer = chat.events()[-1]
    assert answer["kind"] == "answer" and answer["text"] == "Slow down" and answer["show_alert"] is True
