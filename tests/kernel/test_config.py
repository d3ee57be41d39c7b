import logging
import subprocess
import sys
from decimal import Decimal

import pytest

from kernel.config import BASE_DIR, ConfigError, load_config

GOOD_KEY = "pYt7Kq8m2ZxvB3nWc5dRfGh9JkLpQs4tUvWxYz0aBcE="


def test_defaults_need_nothing_set():
    config = load_config({})
    assert config.trading.max_trade_size_sol == Decimal("1.0")
    assert config.trading.max_daily_loss_sol == Decimal("2.0")
    assert config.trading.stop_loss_percentage is None
    assert config.trading.default_slippage_bps == 100
    assert config.database_url.startswith("sqlite:///")
    assert config.redis_url is None
    assert config.admin_telegram_ids == frozenset()
    assert config.debug is False


def test_rebroadcast_is_every_two_seconds_unless_set_and_zero_sends_once():
    assert load_config({}).rebroadcast_seconds == 0.4
    assert load_config({"REBROADCAST_SECONDS": "0.5"}).rebroadcast_seconds == 0.5
    assert load_config({"REBROADCAST_SECONDS": "0"}).rebroadcast_seconds == 0
    assert load_config({}).solana_send_urls == ()
    assert load_config({"SOLANA_SEND_URLS": "https://a.example/, http://127.0.0.1:8900"}).solana_send_urls == (
        "https://a.example", "http://127.0.0.1:8900")


def test_several_full_nodes_name_the_primary_first():
    assert (load_config({}).solana_fallback_urls, load_config({"SOLANA_RPC_URL": "http://a.example"}).solana_rpc_url) \
        == ((), "http://a.example")
    config = load_config({"SOLANA_RPC_URLS": "https://a.example/, https://b.example,https://a.example"})
    assert (config.solana_rpc_url, config.solana_fallback_urls) == ("https://a.example", ("https://b.example",))
    agreeing = load_config({"SOLANA_RPC_URL": "https://a.example", "SOLANA_RPC_URLS": "https://a.example,http://c.io"})
    assert (agreeing.solana_rpc_url, agreeing.solana_fallback_urls) == ("https://a.example", ("http://c.io",))
    with pytest.raises(ConfigError, match=r"^SOLANA_RPC_URL names another node than the first of SOLANA_RPC_URLS"):
        load_config({"SOLANA_RPC_URL": "https://z.example", "SOLANA_RPC_URLS": "https://a.example,https://b.example"})


def test_preferred_names_are_read():
    config = load_config({
        "MAX_POSITION_SIZE_SOL": "2.5", "MAX_DAILY_LOSS_SOL": "3", "STOP_LOSS_PERCENTAGE": "20",
        "TAKE_PROFIT_PERCENTAGE": "50%", "DEFAULT_SLIPPAGE_BPS": "250", "ADMIN_TELEGRAM_IDS": "1, 22 ,333",
        "SOLANA_RPC_URL": "http://127.0.0.1:8899/", "REDIS_URL": "redis://127.0.0.1:6379/0",
        "WALLET_ENCRYPTION_KEY": GOOD_KEY,
    })
    assert config.trading.max_trade_size_lamports == 2_500_000_000
    assert config.trading.max_daily_loss_lamports == 3_000_000_000
    assert config.trading.stop_loss_percentage == Decimal("20")
    assert config.trading.take_profit_percentage == Decimal("50")
    assert config.trading.default_slippage_bps == 250
    assert config.admin_telegram_ids == frozenset({1, 22, 333})
    assert config.solana_rpc_url == "http://127.0.0.1:8899"
    assert config.wallet_encryption_keys == (GOOD_KEY,)


@pytest.mark.parametrize(("legacy", "preferred", "attribute"), [
    ("MAX_TRADE_SIZE_SOL", "MAX_POSITION_SIZE_SOL", "max_trade_size_sol"),
    ("DAILY_LOSS_LIMIT_SOL", "MAX_DAILY_LOSS_SOL", "max_daily_loss_sol"),
])
def test_legacy_name_is_used_with_one_deprecation_warning(legacy, preferred, attribute, caplog):
    with caplog.at_level(logging.WARNING, logger="kernel.config"):
        config = load_config({legacy: "0.75"})
    assert getattr(config.trading, attribute) == Decimal("0.75")
    warnings = [r.getMessage() for r in caplog.records if legacy in r.getMessage()]
    assert len(warnings) == 1
    assert preferred in warnings[0] and "deprecated" in warnings[0]


@pytest.mark.parametrize(("legacy", "preferred", "attribute"), [
    ("MAX_TRADE_SIZE_SOL", "MAX_POSITION_SIZE_SOL", "max_trade_size_sol"),
    ("DAILY_LOSS_LIMIT_SOL", "MAX_DAILY_LOSS_SOL", "max_daily_loss_sol"),
])
def test_preferred_name_wins_over_legacy(legacy, preferred, attribute):
    config = load_config({legacy: "9", preferred: "0.5"})
    assert getattr(config.trading, attribute) == Decimal("0.5")


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("MAX_POSITION_SIZE_SOL", "abc", "is not a plain number"),
    ("MAX_POSITION_SIZE_SOL", "-1", "must not be negative"),
    ("MAX_POSITION_SIZE_SOL", "0", "must be more than zero"),
    ("MAX_POSITION_SIZE_SOL", "1e3", "is not a plain number"),
    ("MAX_POSITION_SIZE_SOL", "NaN", "is not a plain number"),
    ("MAX_POSITION_SIZE_SOL", "0.0000000001", "more than 9 decimal places"),
    ("MAX_TRADE_SIZE_SOL", "ten", "is not a plain number"),
    ("MAX_DAILY_LOSS_SOL", "-5", "must not be negative"),
    ("STOP_LOSS_PERCENTAGE", "150", "between 0 and 100"),
    ("STOP_LOSS_PERCENTAGE", "-3", "must not be negative"),
    ("TAKE_PROFIT_PERCENTAGE", "lots", "is not a plain number"),
    ("DEFAULT_SLIPPAGE_BPS", "1.5", "whole number"),
    ("DEFAULT_SLIPPAGE_BPS", "20000", "between 1 and 10000"),
    ("WALLET_ENCRYPTION_KEY", "not-a-key", "not a valid Fernet key"),
    ("SOLANA_RPC_URL", "localhost:8899", "not a valid URL"),
    ("SOLANA_RPC_URL", "http://127.0.0.1:99999", "invalid port"),
    ("JUPITER_API_URL", "ftp://jup", "not a valid URL"),
    ("REDIS_URL", "http://127.0.0.1", "not a valid URL"),
    ("DATABASE_URL", "mysql://db/x", "sqlite:// or postgres://"),
    ("ADMIN_TELEGRAM_IDS", "123,abc", "numeric Telegram user ids"),
    ("TELEGRAM_BOT_TOKEN", "hello", "not a bot token"),
    ("DEBUG", "maybe", "true or false"),
    ("TRUSTED_PROXIES", "127.0.0.1,nginx", "IP addresses separated by commas"),
    ("REBROADCAST_SECONDS", "-1", "must not be negative"),
    ("REBROADCAST_SECONDS", "2s", "is not a plain number"),
    ("REBROADCAST_SECONDS", "61", "between 0 and 60"),
    ("SOLANA_SEND_URLS", "https://a.example,ftp://b.example", "is not a valid URL"),
    ("SOLANA_RPC_URLS", "https://a.example,b.example", "is not a valid URL"),
])
def test_each_bad_value_names_the_variable_the_problem_and_an_example(variable, value, expected):
    with pytest.raises(ConfigError) as caught:
        load_config({variable: value})
    message = str(caught.value)
    assert message.startswith(variable)
    assert expected in message
    assert "for example:" in message
    assert "\n" not in message


def test_a_second_malformed_key_is_named_by_position_and_never_echoed():
    bad = "Zm9vYmFyYmF6cXV4LW5vdC1hLWtleQ=="
    with pytest.raises(ConfigError) as caught:
        load_config({"WALLET_ENCRYPTION_KEY": f"{GOOD_KEY},{bad}"})
    assert "key #2" in str(caught.value)
    assert bad not in str(caught.value)
    assert GOOD_KEY not in str(caught.value)


def test_database_password_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        load_config({"DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def test_secrets_stay_out_of_repr():
    config = load_config({"WALLET_ENCRYPTION_KEY": GOOD_KEY, "TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35,
                          "SECRET_KEY": "s3cr3t-value"})
    text = repr(config)
    assert GOOD_KEY not in text and "AAAAAAAAAA" not in text and "s3cr3t-value" not in text


def test_missing_keys_are_explained_when_needed():
    config = load_config({})
    with pytest.raises(ConfigError, match="generate_encryption_key"):
        config.require_encryption_keys()
    with pytest.raises(ConfigError, match="BotFather"):
        config.require_telegram_token()


def _run(args, env_overrides):
    env = {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": "/dev/null", "SECRET_KEY": "tests-only", **env_overrides}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=60)


def test_without_a_secret_key_and_with_debug_off_nothing_serves():
    result = _run(["manage.py", "runbot"], {"SECRET_KEY": None, "WALLET_ENCRYPTION_KEY": GOOD_KEY,
                                            "TELEGRAM_BOT_TOKEN": "123456789:" + "A" * 35})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("Configuration error: SECRET_KEY is not set")
    assert "secrets.token_urlsafe" in result.stderr  # how to make one
    assert _run(["manage.py", "runbot"], {"SECRET_KEY": "", "DEBUG": "false"}).returncode == 2
    web = _run(["-c", "import tradingbot.asgi"], {"SECRET_KEY": None})
    assert web.returncode != 0 and "SECRET_KEY is not set" in web.stderr
    # A developer's DEBUG run still starts with a key made up for the process.
    assert _run(["-c", "import tradingbot.asgi"], {"SECRET_KEY": None, "DEBUG": "true"}).returncode == 0


def test_the_quick_start_commands_run_before_a_secret_key_is_set():
    result = _run(["manage.py", "generate_encryption_key"], {"SECRET_KEY": None})
    assert result.returncode == 0 and result.stdout.strip(), result.stderr


def test_manage_py_stops_with_one_line_and_no_traceback_on_a_bad_value():
    result = _run(["manage.py", "check"], {"STOP_LOSS_PERCENTAGE": "150"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "STOP_LOSS_PERCENTAGE" in result.stderr and "Traceback" not in result.stderr


def test_the_documented_one_liner_prints_the_config():
    code = ("from kernel.config import get_config; c = get_config(); "
            "print(c.database_url, c.solana_rpc_url, c.trading.max_trade_size_sol)")
    result = _run(["-c", code], {"MAX_TRADE_SIZE_SOL": "0.25", "SOLANA_RPC_URL": "http://127.0.0.1:8899"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["http://127.0.0.1:8899", "0.25"]
    assert "deprecated" in result.stderr


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nMAX_POSITION_SIZE_SOL=3\nexport DEFAULT_SLIPPAGE_BPS='75'\n")
    code = "from kernel.config import get_config; c = get_config(); print(c.trading.max_trade_size_sol, " \
           "c.trading.default_slippage_bps)"
    result = _run(["-c", code], {"TRADINGBOT_ENV_FILE": str(env_file), "DEFAULT_SLIPPAGE_BPS": "80"})
    assert result.stdout.split() == ["3", "80"], result.stderr


@pytest.mark.parametrize("url", ["http://api.jup.ag", "http://10.0.0.5:8080", "http://jupiter.internal"])
def test_the_swap_api_must_be_https_unless_it_is_this_machine(url):
    with pytest.raises(ConfigError) as caught:
        load_config({"JUPITER_API_URL": url})
    assert "JUPITER_API_URL" in str(caught.value) and "https://" in str(caught.value)


@pytest.mark.parametrize("url", ["https://api.jup.ag", "http://127.0.0.1:8080", "http://localhost:9000",
                                 "http://[::1]:8080"])
def test_https_or_loopback_swap_apis_are_accepted(url):
    assert load_config({"JUPITER_API_URL": url}).jupiter_api_url == url


def test_swap_inspection_settings():
    config = load_config({"SWAP_SIMULATION": "automatic",
                          "SWAP_TIP_ACCOUNTS": "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5"})
    assert config.swap_simulation == "automatic"
    assert config.swap_tip_accounts == ("96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",)
    assert load_config({}).swap_simulation == "all" and load_config({}).swap_tip_accounts == ()
    with pytest.raises(ConfigError):
        load_config({"SWAP_SIMULATION": "never"})


def test_swaps_are_composed_unless_switched_off():
    assert load_config({}).swap_compose is True
    assert load_config({"SWAP_COMPOSE": "false"}).swap_compose is False
    with pytest.raises(ConfigError, match="SWAP_COMPOSE"):
        load_config({"SWAP_COMPOSE": "sometimes"})


def test_the_block_engine_is_optional_and_private():
    assert load_config({}).jito_block_engine_url is None
    for url in ("https://mainnet.block-engine.jito.wtf", "http://127.0.0.1:8899"):
        assert load_config({"JITO_BLOCK_ENGINE_URL": url}).jito_block_engine_url == url
    with pytest.raises(ConfigError) as caught:
        load_config({"JITO_BLOCK_ENGINE_URL": "http://block-engine.example.com"})
    assert "JITO_BLOCK_ENGINE_URL" in str(caught.value) and "https://" in str(caught.value)


def test_trading_guards_have_defaults_and_refuse_a_default_slippage_above_the_maximum():
    limits = load_config({}).trading
    assert limits.max_daily_spend_lamports == 10 * 10**9 and limits.max_slippage_bps == 1500
    custom = load_config({"MAX_DAILY_SPEND_SOL": "2.5", "MAX_SLIPPAGE_BPS": "300"}).trading
    assert custom.max_daily_spend_lamports == 2_500_000_000 and custom.max_slippage_bps == 300
    with pytest.raises(ConfigError, match="DEFAULT_SLIPPAGE_BPS is above MAX_SLIPPAGE_BPS"):
        load_config({"MAX_SLIPPAGE_BPS": "50", "DEFAULT_SLIPPAGE_BPS": "100"})
    with pytest.raises(ConfigError, match="MAX_DAILY_SPEND_SOL"):
        load_config({"MAX_DAILY_SPEND_SOL": "0"})


@pytest.mark.parametrize("command", [["checkconfig"], ["runbot"]])
def test_a_first_run_names_every_missing_setting_at_once_before_touching_the_database(command, tmp_path):
    database = tmp_path / "db.sqlite3"
    result = _run(["manage.py", *command], {"SECRET_KEY": None, "DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stdout == ""
    first_line, *details = result.stderr.strip().splitlines()
    assert first_line.startswith("Configuration error: 3 settings are not set (SECRET_KEY, TELEGRAM_BOT_TOKEN, "
                                 "WALLET_ENCRYPTION_KEY)")
    assert [line.split()[1] for line in details] == ["SECRET_KEY", "TELEGRAM_BOT_TOKEN", "WALLET_ENCRYPTION_KEY"]
    assert "generate_encryption_key" in details[2] and "BotFather" in details[1]
    assert not database.exists()  # nothing was migrated or opened


def test_webhook_mode_also_names_its_two_settings():
    result = _run(["manage.py", "checkconfig", "--webhook"], {"WALLET_ENCRYPTION_KEY": GOOD_KEY,
                                                             "TELEGRAM_BOT_TOKEN": "123456789:" + "A" * 35})
    assert result.returncode == 2
    assert "2 settings are not set (TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET)" in result.stderr


def test_checkconfig_passes_when_everything_is_set():
    result = _run(["manage.py", "checkconfig"], {"WALLET_ENCRYPTION_KEY": GOOD_KEY,
                                                 "TELEGRAM_BOT_TOKEN": "123456789:" + "A" * 35})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Configuration is complete."


def test_make_run_checks_the_configuration_before_it_migrates():
    result = subprocess.run(["make", "-n", "run", "STAMP="], cwd=BASE_DIR, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "manage.py" in line]
    assert [line.split("manage.py ")[1].split()[0] for line in commands] == ["checkconfig", "migrate", "runbot"]


@pytest.mark.parametrize(("debug", "shown"), [("false", False), ("true", True)])
def test_the_schedulers_routine_lines_are_quiet_unless_debug(debug, shown):
    code = ("import django, logging; django.setup(); "
            "print(logging.getLogger('apscheduler.executors.default').isEnabledFor(logging.INFO))")
    result = _run(["-c", code], {"DJANGO_SETTINGS_MODULE": "tradingbot.settings", "DEBUG": debug})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(shown)


def test_every_invalid_value_is_named_at_once_with_the_missing_ones():
    result = _run(["manage.py", "checkconfig"], {"SECRET_KEY": None, "STOP_LOSS_PERCENTAGE": "150",
                                                 "DEFAULT_SLIPPAGE_BPS": "abc", "TELEGRAM_BOT_TOKEN": "xyz"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    first_line, *details = result.stderr.strip().splitlines()
    assert first_line.startswith("Configuration error: 5 settings are missing or invalid (")
    assert sorted(line.split()[1] for line in details) == [
        "DEFAULT_SLIPPAGE_BPS", "SECRET_KEY", "STOP_LOSS_PERCENTAGE", "TELEGRAM_BOT_TOKEN", "WALLET_ENCRYPTION_KEY"]
    assert "xyz" not in result.stderr  # a token is described, never echoed
