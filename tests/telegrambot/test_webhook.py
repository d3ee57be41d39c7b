

def test_webhook_accepts_only_post(client):
    assert client.get("/telegram/webhook/").status_code == 405
