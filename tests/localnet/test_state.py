"""localnet keeps its chain between runs: the bot's database made on one run still matches the chain on the next
(the same mints, balances, pools, ports and bot token), and trading goes on."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from solana.rpc.async_api import AsyncClient
from solders.pubkey import Pubkey

from custody.services import get_or_create_user_wallet
from kernel.chain.jupiter import JupiterClient
from kernel.chain.rpc import RpcGateway
from kernel.config import BASE_DIR, load_config
from localnet import state
from positions.amounts import SellAmount
from positions.reconcile import audit_wallets
from positions.trading import TradingService
from tests.settings import TEST_WALLET_KEY
from wallets.crypto import Keyring

SOL = 10**9


class Bot:
    """The bot's trading stack pointed at one localnet run, as `make run` would be with its printed lines."""

    def __init__(self, localnet) -> None:
        self.config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                                   "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000"})
        self.rpc = RpcGateway(localnet.rpc_url, timeout=5, backoff=0.05)
        self.jupiter = JupiterClient(localnet.jupiter_url, timeout=5, backoff=0.05)
        self.trading = TradingService(rpc=self.rpc, jupiter=self.jupiter, keyring=Keyring([TEST_WALLET_KEY]),
                                      config=self.config)

    async def close(self) -> None:
        await self.rpc.close(quiet=True)
        await self.jupiter.close()


@pytest.mark.django_db(transaction=True)
async def test_a_restarted_localnet_is_the_same_chain_and_the_bots_ledger_still_matches(tmp_path):
    path = tmp_path / "state.json"
    first = state.start(path)
    assert not first.restored
    run = first.localnet
    bot = Bot(run)
    try:
        wallet = (await sync_to_async(get_or_create_user_wallet)(990_001, "kept", config=bot.config)).wallet
        run.chain.airdrop(wallet.public_key, 2 * SOL)
        bonk = run.token("BONK")
        bought = await bot.trading.execute_buy(telegram_user_id=990_001, mint=bonk.mint, lamports=SOL // 10)
        assert bought.received_raw > 0
        before = {"env": run.env_lines(), "tokens": dict(run.tokens), "pool": run.pool("BONK"),
                  "sol": run.chain.sol_balance(wallet.public_key),
                  "bonk": run.chain.token_balance(wallet.public_key, bonk.mint), "slot": run.chain.slot}
    finally:
        await bot.close()
        state.save(run, path)
        run.stop()

    second = state.start(path)
    run = second.localnet
    bot = Bot(run)
    try:
        assert second.restored and second.accounts > 0
        assert run.env_lines() == before["env"]  # the same ports and bot token: the bot's .env stays right
        assert run.tokens == before["tokens"] and run.pool("BONK") == before["pool"]
        assert run.chain.slot >= before["slot"]  # time does not go back: lookup tables stay usable
        async with AsyncClient(run.rpc_url) as client:  # read back over JSON-RPC, as the bot reads
            assert (await client.get_balance(Pubkey.from_string(wallet.public_key))).value == before["sol"]
        assert run.chain.token_balance(wallet.public_key, bonk.mint) == before["bonk"]
        assert await audit_wallets(bot.rpc) == []  # `manage.py reconcile` finds no difference
        sold = await bot.trading.execute_sell(telegram_user_id=990_001, mint=bonk.mint, amount=SellAmount.all())
        assert sold.position_closed and sold.lamports_out > 0  # pools, lookup tables and prices work on
    finally:
        await bot.close()
        run.stop()


def test_a_new_chain_is_only_made_when_asked(tmp_path):
    path = tmp_path / "state.json"
    first = state.start(path).localnet
    token, mint = first.telegram.token, first.token("WIF").mint
    first.stop()
    fresh = state.start(path, fresh=True).localnet
    try:
        assert fresh.telegram.token != token and fresh.token("WIF").mint != mint
    finally:
        fresh.stop()
    assert state.read(path)["telegram"]["token"] == fresh.telegram.token  # the new chain is the one kept


def test_a_state_file_that_is_not_one_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"version": 99}')
    with pytest.raises(state.StateError, match="start with --fresh"):
        state.start(path)


def test_python_m_localnet_keeps_its_chain_across_runs(tmp_path):
    """The command `make localnet` runs: stopped with Ctrl-C, started again, it prints the same lines."""
    path = tmp_path / "state.json"

    def run(*extra) -> tuple[list[str], str]:
        process = subprocess.Popen([sys.executable, "-m", "localnet", "--quiet", "--state", str(path), *extra],
                                   cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [process.stdout.readline().strip() for _ in range(6)]  # the environment lines
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        return lines, err

    lines, err = run()
    assert lines[0].startswith("SOLANA_RPC_URL=") and "a new chain, kept in" in err and path.exists()
    assert [token["symbol"] for token in state.read(path)["tokens"]] == ["BONK", "WIF", "JUP", "NINE", "WHOLE",
                                                                         "MAXI"]  # seeded, with or without --seed
    again, err = run()
    assert again == lines and "chain restored from" in err
    fresh, _ = run("--fresh")
    assert fresh != lines
