import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from solders.keypair import Keypair

from custody.services import get_or_create_user_wallet
from kernel.config import BASE_DIR
from tests.settings import TEST_WALLET_KEY
from wallets.crypto import Keyring, fingerprint, generate_key
from wallets.models import UserWallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallets():
    return [get_or_create_user_wallet(5000 + i, f"user{i}").wallet for i in range(7)]


def _opens_to_own_key(wallet: UserWallet, keyring: Keyring) -> bool:
    return str(Keypair.from_bytes(keyring.open(wallet.encrypted_secret)).pubkey()) == wallet.public_key


def _rotate(*args, new_key: str | None = None) -> str:
    """The new key on standard input, as an operator pipes it in (never on the command line)."""
    out, err = StringIO(), StringIO()
    if new_key is not None:
        args = ("--new-key-stdin", *args)
    call_command("rotate_wallet_key", *args, stdout=out, stderr=err, stdin=StringIO(f"{new_key}\n"))
    return out.getvalue() + err.getvalue()


def test_rotation_reseals_every_wallet_and_prints_fingerprints_never_keys(wallets):
    new_key = generate_key()
    output = _rotate("--batch-size", "3", new_key=new_key)
    assert new_key not in output and TEST_WALLET_KEY not in output
    assert f"fingerprint {fingerprint(new_key)}" in output and fingerprint(TEST_WALLET_KEY) in output
    assert "7/7 wallets processed" in output
    only_new = Keyring([new_key])
    for wallet in UserWallet.objects.all():
        assert wallet.key_fingerprint == fingerprint(new_key)
        assert _opens_to_own_key(wallet, only_new)


def test_interrupted_rotation_resumes_and_a_second_run_changes_nothing(wallets):
    new_key = generate_key()
    _rotate("--batch-size", "2", "--limit", "3", new_key=new_key)  # stopped part-way
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 3
    output = _rotate(new_key=new_key)
    assert "re-sealed 4 wallet(s); 3 already on the new key" in output
    before = dict(UserWallet.objects.values_list("pk", "encrypted_secret"))
    output = _rotate(new_key=new_key)
    assert "re-sealed 0 wallet(s); 7 already on the new key" in output
    assert dict(UserWallet.objects.values_list("pk", "encrypted_secret")) == before


def test_dry_run_changes_nothing(wallets):
    before = dict(UserWallet.objects.values_list("pk", "encrypted_secret"))
    output = _rotate("--dry-run", new_key=generate_key())
    assert "would re-seal 7 wallet(s)" in output
    assert "Deploy" not in output
    assert dict(UserWallet.objects.values_list("pk", "encrypted_secret")) == before


def test_a_wallet_no_key_opens_is_reported_left_untouched_and_fails_the_run(wallets):
    stranger = Keyring([generate_key()])
    lost = wallets[2]
    lost_keypair = Keypair()
    UserWallet.objects.filter(pk=lost.pk).update(public_key=str(lost_keypair.pubkey()),
                                                 encrypted_secret=stranger.seal(bytes(lost_keypair)))
    sealed_before = UserWallet.objects.get(pk=lost.pk).encrypted_secret
    new_key = generate_key()
    with pytest.raises(CommandError, match="1 wallet"):
        _rotate(new_key=new_key)
    lost.refresh_from_db()
    assert lost.encrypted_secret == sealed_before
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 6


def test_a_malformed_new_key_is_refused(wallets):
    with pytest.raises(CommandError, match="not a valid Fernet key") as caught:
        _rotate(new_key="nope")
    assert "nope" not in str(caught.value)


def test_a_key_on_the_command_line_is_refused_and_nothing_changes(wallets):
    before = dict(UserWallet.objects.values_list("pk", "encrypted_secret"))
    new_key = generate_key()
    with pytest.raises(CommandError, match="shell history") as caught:
        _rotate(f"--new-key={new_key}")
    assert new_key not in str(caught.value)
    assert dict(UserWallet.objects.values_list("pk", "encrypted_secret")) == before


def test_without_a_given_key_it_rotates_to_the_first_deployed_key(wallets, monkeypatch):
    """The documented order: WALLET_ENCRYPTION_KEY=NEW,OLD deployed first, then the command with no key at all."""
    from kernel.config import get_config

    new_key = generate_key()
    monkeypatch.setenv("WALLET_ENCRYPTION_KEY", f"{new_key},{TEST_WALLET_KEY}")
    get_config.cache_clear()
    try:
        output = _rotate()
    finally:
        monkeypatch.undo()
        get_config.cache_clear()
    assert "re-sealed 7 wallet(s)" in output and new_key not in output
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 7


def test_with_one_deployed_key_and_none_given_it_explains_the_order(wallets):
    with pytest.raises(CommandError, match="generate_encryption_key"):
        _rotate()


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_and_names_the_wallet(tmp_path):
    """End to end as an operator runs it: a real process, its exit code and its words."""
    database = tmp_path / "rotation.sqlite3"
    env = {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": "/dev/null", "DATABASE_URL": f"sqlite:///{database}",
           "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "SECRET_KEY": "tests-only"}

    def manage(*args, **extra):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env={**env, **extra},
                              capture_output=True, text=True, timeout=120)

    assert manage("migrate", "-v", "0").returncode == 0
    create = ("import django; django.setup(); from custody.services import get_or_create_user_wallet; "
              "print(get_or_create_user_wallet(77, 'op').wallet.public_key)")
    public_key = subprocess.run([sys.executable, "-c", create], cwd=BASE_DIR, capture_output=True, text=True,
                                env={**env, "DJANGO_SETTINGS_MODULE": "tradingbot.settings"}).stdout.strip()
    other_key = generate_key()
    new_key = generate_key()
    result = manage("rotate_wallet_key", WALLET_ENCRYPTION_KEY=other_key, NEW_WALLET_ENCRYPTION_KEY=new_key)
    assert result.returncode != 0
    assert public_key in result.stderr
    assert "Traceback" not in result.stderr
    assert new_key not in result.stdout + result.stderr and other_key not in result.stdout + result.stderr


def test_a_key_starting_with_a_dash_is_read_from_standard_input(wallets):
    new_key = next(key for key in iter(generate_key, None) if key.startswith("-"))
    _rotate(new_key=new_key)
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 7


def test_rotation_reseals_authenticator_secrets_and_is_audited(wallets, keyring):
    from custody.models import AuditEvent, SecondFactor

    secret = b"\x01" * 20
    SecondFactor.objects.create(user=wallets[0], encrypted_secret=keyring.seal(secret),
                                key_fingerprint=keyring.primary_fingerprint)
    new_key = generate_key()
    output = _rotate(new_key=new_key)
    assert "Re-sealed 1 authenticator secret(s)." in output
    factor = SecondFactor.objects.get()
    assert factor.key_fingerprint == fingerprint(new_key) and Keyring([new_key]).open(factor.encrypted_secret) == secret
    event = AuditEvent.objects.get(action="key_rotated")
    assert event.detail == {"wallets": 7, "second_factors": 1, "failed": 0}
