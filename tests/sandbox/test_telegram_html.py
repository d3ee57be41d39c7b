"""The bot's HTML, as the chat page shows it: Telegram's tags drawn, everything else escaped."""

from html.parser import HTMLParser

import pytest

from sandbox.telegram_html import render


@pytest.mark.parametrize(("sent", "shown"), [
    ("<b>Bought</b> 5 &amp; <code>Mint1</code>", "<b>Bought</b> 5 &amp; <code>Mint1</code>"),
    ("<strong>s</strong><em>e</em><ins>u</ins><strike>x</strike><del>d</del>",
     "<b>s</b><i>e</i><u>u</u><s>x</s><s>d</s>"),
    ("<pre><code class=\"language-python\">x = 1</code></pre>",
     "<pre><code class=\"language-python\">x = 1</code></pre>"),
    ("<tg-spoiler>hidden</tg-spoiler> <span class=\"tg-spoiler\">too</span>",
     "<span class=\"tg-spoiler\">hidden</span> <span class=\"tg-spoiler\">too</span>"),
    ("<blockquote expandable>quote</blockquote>", "<blockquote class=\"expandable\">quote</blockquote>"),
    ("<a href=\"https://solscan.io/tx/abc\">View</a>",
     "<a href=\"https://solscan.io/tx/abc\" target=\"_blank\" rel=\"noopener noreferrer\">View</a>"),
    ("line one\nline two", "line one\nline two"),
    ("<b><i>left open</b>", "<b><i>left open</i></b>"),
    ("<b>never closed", "<b>never closed</b>"),
])
def test_telegram_s_tags_are_drawn(sent, shown):
    assert render(sent) == shown


@pytest.mark.parametrize("attack", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<b onclick=\"alert(1)\">x</b>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\" JAVASCRIPT:alert(1)\">x</a>",
    "<a href=\"https://ok\" onmouseover=\"alert(1)\">x</a>",
    "<span onclick=\"alert(1)\">x</span>",
    "<svg/onload=alert(1)>",
    "<iframe src=\"https://evil\"></iframe>",
    "<!-- <script>alert(1)</script> -->",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<code class=\"language-x\" onclick=\"alert(1)\">x</code>",
    "<a href='https://x\" onclick=\"alert(1)'>x</a>",
])
def test_nothing_else_can_run_in_the_page(attack):
    """What a browser would parse out of the result: Telegram's tags only, with harmless attributes only."""
    found = _Elements()
    found.feed(render(attack))
    assert found.tags <= {"b", "i", "u", "s", "code", "pre", "blockquote", "span", "a"}
    for name, value in found.attributes:
        assert name in {"class", "href", "target", "rel"}, name
        assert name != "href" or value.startswith(("https://", "http://", "tg://", "mailto:")), value


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def test_unknown_tags_are_shown_as_the_text_they_are():
    assert render("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert render("a </i> b") == "a &lt;/i&gt; b"
    assert render("<a href=\"javascript:alert(1)\">x</a>") == "<span>x</span>"
