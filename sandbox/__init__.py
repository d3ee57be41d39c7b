"""The offline sandbox: the whole bot in a browser (``make sandbox``).

A web chat page that looks and behaves like a Telegram private chat, talking to localnet's Telegram Bot API stand-in
over HTTP (its person's side, ``localnet/chatroom.py``), so the bot under it is the real one, unchanged; live updates
reach the page over a Channels websocket. Installed only when ``SANDBOX=true``; the bot never imports it, and it
imports nothing of the bot (pyproject.toml's import-linter contracts). ``python -m sandbox`` starts everything.
"""
