from django.apps import AppConfig


class TelegrambotConfig(AppConfig):
    name = "telegrambot"
    verbose_name = "Telegram bot"
