import pytest


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
def test_webhook_refuses_a_missing_or_wrong_secret(client, settings, headers):
    response = client.post("/telegram/webhook/", data="{}", content_type="application/json", headers=headers)
    assert response.status_code == 403


def test_webhook_accepts_only_post(client):
    assert client.get("/telegram/webhook/").status_code == 405
