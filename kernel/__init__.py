"""The kernel: money, fields, the database bridge, the clock, configuration, the chain and the swap API.

It imports no app (wallets, custody, positions, telegrambot) and not the project shell (``tradingbot``): everything
above stands on it. ``make lint`` holds this with import-linter.
"""
