"""The Solana and Jupiter boundary. Knows the chain and the swap API, nothing of Django models."""
