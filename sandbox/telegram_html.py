"""Telegram's HTML parse mode, made safe to show in a browser.

The bot sends ``parse_mode=HTML``: Telegram knows a short list of tags (https://core.telegram.org/bots/api#html-style)
and nothing else. The page shows exactly those, rebuilt from scratch with only their allowed attributes; any other tag
is shown as the text it is, escaped, and every text is escaped. Nothing the bot (or a token name inside its message)
says can run in the page.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

# Telegram tag -> (the tag the page uses, its CSS class)
_TAGS = {
    "b": ("b", ""), "strong": ("b", ""), "i": ("i", ""), "em": ("i", ""), "u": ("u", ""), "ins": ("u", ""),
    "s": ("s", ""), "strike": ("s", ""), "del": ("s", ""), "code": ("code", ""), "pre": ("pre", ""),
    "blockquote": ("blockquote", ""), "tg-spoiler": ("span", "tg-spoiler"), "tg-emoji": ("span", ""),
    "a": ("a", ""), "span": ("span", ""),
}
_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")


def render(text: str) -> str:
    """The safe HTML for a message the bot sent with ``parse_mode=HTML``."""
    parser = _Renderer()
    parser.feed(text)
    parser.close()
    return parser.result()


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._open: list[tuple[str, str]] = []  # (Telegram tag, the tag written for it) open, innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self._out.append(html.escape(self.get_starttag_text() or ""))
            return
        name, css = _TAGS[tag]
        attributes = dict(attrs)
        extra = ""
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            self._out.append(html.escape(self.get_starttag_text() or ""))
            return
        if tag == "span":
            css = "tg-spoiler"
        if tag == "a":
            href = (attributes.get("href") or "").strip()
            if href.lower().startswith(_SAFE_SCHEMES):
                extra = f' href="{html.escape(href)}" target="_blank" rel="noopener noreferrer"'
            else:
                name = "span"
        if tag == "code" and (attributes.get("class") or "").startswith("language-"):
            css = html.escape(attributes["class"] or "")
        if tag == "blockquote" and "expandable" in attributes:
            css = "expandable"
        self._open.append((tag, name))
        css_attribute = f' class="{css}"' if css else ""
        self._out.append(f"<{name}{css_attribute}{extra}>")

    def handle_endtag(self, tag: str) -> None:
        if tag not in (opened for opened, _ in self._open):
            self._out.append(html.escape(f"</{tag}>"))
            return
        while self._open:  # close what was left open inside, as a browser would
            inner, written = self._open.pop()
            self._out.append(f"</{written}>")
            if inner == tag:
                break

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._out.append(html.escape(self.get_starttag_text() or ""))

    def handle_data(self, data: str) -> None:
        self._out.append(html.escape(data, quote=False))

    def handle_comment(self, data: str) -> None:
        self._out.append(html.escape(f"<!--{data}-->"))

    def handle_decl(self, decl: str) -> None:
        self._out.append(html.escape(f"<!{decl}>"))

    def handle_pi(self, data: str) -> None:
        self._out.append(html.escape(f"<?{data}>"))

    def unknown_decl(self, data: str) -> None:
        self._out.append(html.escape(f"<![{data}]>"))

    def result(self) -> str:
        while self._open:
            self._out.append(f"</{self._open.pop()[1]}>")
        return "".join(self._out)
