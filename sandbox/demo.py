"""The sandbox's demo staff account: made by ``python -m sandbox`` on its fresh database, shown on the chat page.

A fixed, published password is fine here and nowhere else: the sandbox runs on loopback against localnet
(SandboxConfig refuses any other Telegram server), with a database made anew at each start."""

DEMO_STAFF_USERNAME = "demo"
DEMO_STAFF_PASSWORD = "sandbox-demo-password"
