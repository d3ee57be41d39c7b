"""Shared fixtures. Real databases; localnet for the chain, the swap venue and Telegram."""
