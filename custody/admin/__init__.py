"""The back office's custody pages (audit log, kill switches, withdrawals, second factors, policies) and the
wallet and settings pages: every staff change on them is audited (``staff``). Importing this package registers
them; Django's admin does so at start."""

from custody.admin import pages, wallets  # noqa: F401
