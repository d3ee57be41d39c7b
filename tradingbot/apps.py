from django.apps import AppConfig


class TradingbotConfig(AppConfig):
    name = "tradingbot"
    verbose_name = "Operations"

    def ready(self) -> None:
        from tradingbot.metrics import register_ledger_gauges

        register_ledger_gauges()
