"""Clients of localnet's own HTTP servers, for the tests of the servers themselves."""

import httpx
import pytest_asyncio
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed


@pytest_asyncio.fixture
async def http(localnet):
    """Plain HTTP to the swap venue."""
    async with httpx.AsyncClient(base_url=localnet.jupiter_url) as client:
        yield client


@pytest_asyncio.fixture
async def client(localnet):
    """solana-py's client on localnet's JSON-RPC."""
    async with AsyncClient(localnet.rpc_url, commitment=Confirmed) as rpc:
        yield rpc
