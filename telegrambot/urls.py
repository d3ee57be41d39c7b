from django.urls import path

from telegrambot.webhook import telegram_webhook

urlpatterns = [
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
]
