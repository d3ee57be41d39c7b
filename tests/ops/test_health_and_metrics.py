"""Probes and metrics as operators' tools see them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from kernel.config import BASE_DIR, load_config
from tests.settings import TEST_WALLET_KEY
from tradingbot.health import ReadinessCache, readiness


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
async def test_readiness_follows_the_rpc_down_and_back(localnet):
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    checks = {c.name: c for c in await readiness(config)}
    assert all(c.ok for c in checks.values()) and set(checks) == {"database", "solana_rpc", "redis"}
    localnet.rpc.faults.fail_next(5, status=503)
    checks = {c.name: c for c in await readiness(config)}
    assert not checks["solana_rpc"].ok and "503" in checks["solana_rpc"].detail and checks["database"].ok
    localnet.rpc.faults.clear()
    assert all(c.ok for c in await readiness(config))


@pytest.mark.django_db(transaction=True)
async def test_readiness_reports_a_dead_redis_and_a_dead_rpc(localnet):
    config = load_config({"SOLANA_RPC_URL": "http://127.0.0.1:9", "REDIS_URL": "redis://127.0.0.1:9/0"})
    checks = {c.name: c for c in await readiness(config, timeout=2)}
    assert not checks["solana_rpc"].ok and not checks["redis"].ok and checks["database"].ok


@pytest.mark.django_db
def test_readyz_is_503_with_a_json_body_when_a_dependency_is_down(client):
    response = client.get("/readyz")  # the test settings point at mainnet, which this machine cannot reach
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and body["checks"]["database"]["ok"] is True
    assert body["checks"]["solana_rpc"]["ok"] is False


@pytest.mark.django_db
def test_readyz_never_shows_a_dependency_address(client):
    body = client.get("/readyz").content.decode()
    assert "solana_rpc" in body and "mainnet-beta" not in body and "api." not in body


@pytest.mark.django_db(transaction=True)
async def test_readiness_is_cached_for_a_few_seconds_so_probes_cannot_spend_rpc_quota(localnet):
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url})
    now = [1000.0]
    cache = ReadinessCache(ttl=5.0, clock=lambda: now[0])
    before = localnet.rpc.requests["getBlockHeight"]
    for _ in range(20):  # a probe storm within the window: one check
        assert all(c.ok for c in await cache.checks(config))
        now[0] += 0.2
    assert localnet.rpc.requests["getBlockHeight"] == before + 1
    now[0] += 5
    await cache.checks(config)
    assert localnet.rpc.requests["getBlockHeight"] == before + 2


def test_failing_checks_name_the_dependency_never_its_address_or_credentials(tmp_path):
    database = tmp_path / "h.sqlite3"
    result = _healthcheck({"SOLANA_RPC_URL": "http://10.9.8.7:9", "DATABASE_URL": f"sqlite:///{database}",
                           "REDIS_URL": "redis://:hunter2pass@127.0.0.1:9/0"},
                          "--database-url", "postgres://probeuser:hunter2pass@127.0.0.1:9/none")
    failing = [line.split("FAIL  ", 1)[1] for line in result.stderr.splitlines() if "FAIL  " in line]
    assert [line.split(":")[0] for line in failing] == ["database", "solana_rpc", "redis"]
    for secret in ("hunter2pass", "probeuser", "127.0.0.1", "10.9.8.7"):
        assert not any(secret in line for line in failing), failing


def _healthcheck(env_extra: dict, *args) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": "/dev/null", "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY,
           "SECRET_KEY": "tests-only", **env_extra}
    return subprocess.run([sys.executable, "manage.py", "healthcheck", *args], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)


def test_healthcheck_command_exit_codes(localnet, tmp_path):
    database = tmp_path / "h.sqlite3"
    good = _healthcheck({"SOLANA_RPC_URL": localnet.rpc_url, "DATABASE_URL": f"sqlite:///{database}"})
    assert good.returncode == 0, good.stderr
    assert "ok    solana_rpc" in good.stdout
    bad = _healthcheck({"SOLANA_RPC_URL": "http://127.0.0.1:9", "DATABASE_URL": f"sqlite:///{database}"},
                       "--database-url", "postgres://nobody@127.0.0.1:9/none")
    assert bad.returncode != 0
    failing = [line for line in bad.stderr.splitlines() if "FAIL" in line]
    assert len(failing) == 2 and "Traceback" not in bad.stderr


@pytest.mark.django_db
def test_kill_switches_are_exported_without_user_labels(client):
    from custody import killswitch
    from custody.services import get_or_create_user_wallet

    wallet = get_or_create_user_wallet(3201, "paused").wallet
    killswitch.pause("buys", actor="operator test", source="test")
    killswitch.pause("withdrawals", user=wallet, actor="operator test", source="test")
    body = client.get("/metrics").content.decode()
    assert 'trading_bot_kill_switches{action="buys",scope="global"} 1.0' in body
    assert 'trading_bot_kill_switches{action="withdrawals",scope="user"} 1.0' in body
    assert 'trading_bot_kill_switches{action="sells",scope="global"} 0.0' in body
    labels = " ".join(re.findall(r"\{([^}]*)\}", body))  # values are floats: a timestamp may hold the digits
    assert "3201" not in labels and wallet.public_key not in body
