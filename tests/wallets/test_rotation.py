import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from solders.keypair import Keypair

from tests.settings import TEST_WALLET_KEY
from tradingbot.config import BASE_DIR
from wallets.crypto import Keyring, fingerprint, generate_key
from wallets.models import UserWallet
from wallets.services import get_or_create_user_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallets():
    return [get_or_create_user_wallet(5000 + i, f"user{i}").wallet for i in range(7)]


def _opens_to_own_key(wallet: UserWallet, keyring: Keyring) -> bool:
    return str(Keypair.from_bytes(keyring.open(wallet.encrypted_secret)).pubkey()) == wallet.public_key


def _rotate(*args) -> str:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("rotate_wallet_key", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_rotation_reseals_every_wallet_and_prints_the_value_to_deploy(wallets):
    new_key = generate_key()
    output = _rotate(f"--new-key={new_key}", "--batch-size", "3")
    assert f"WALLET_ENCRYPTION_KEY={new_key},{TEST_WALLET_KEY}" in output
    assert "7/7 wallets processed" in output
    only_new = Keyring([new_key])
    for wallet in UserWallet.objects.all():
        assert wallet.key_fingerprint == fingerprint(new_key)
        assert _opens_to_own_key(wallet, only_new)


def test_interrupted_rotation_resumes_and_a_second_run_changes_nothing(wallets):
    new_key = generate_key()
    _rotate(f"--new-key={new_key}", "--batch-size", "2", "--limit", "3")  # stopped part-way
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 3
    output = _rotate(f"--new-key={new_key}")
    assert "re-sealed 4 wallet(s); 3 already on the new key" in output
    before = dict(UserWallet.objects.values_list("pk", "encrypted_secret"))
    output = _rotate(f"--new-key={new_key}")
    assert "re-sealed 0 wallet(s); 7 already on the new key" in output
    assert dict(UserWallet.objects.values_list("pk", "encrypted_secret")) == before


def test_dry_run_changes_nothing(wallets):
    before = dict(UserWallet.objects.values_list("pk", "encrypted_secret"))
    output = _rotate(f"--new-key={generate_key()}", "--dry-run")
    assert "would re-seal 7 wallet(s)" in output
    assert "WALLET_ENCRYPTION_KEY=" not in output
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
        _rotate(f"--new-key={new_key}")
    lost.refresh_from_db()
    assert lost.encrypted_secret == sealed_before
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 6


def test_a_malformed_new_key_is_refused(wallets):
    with pytest.raises(CommandError, match="not a valid Fernet key"):
        _rotate("--new-key", "nope")


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
    create = ("import django; django.setup(); from wallets.services import get_or_create_user_wallet; "
              "print(get_or_create_user_wallet(77, 'op').wallet.public_key)")
    public_key = subprocess.run([sys.executable, "-c", create], cwd=BASE_DIR, capture_output=True, text=True,
                                env={**env, "DJANGO_SETTINGS_MODULE": "tradingbot.settings"}).stdout.strip()
    other_key = generate_key()
    result = manage("rotate_wallet_key", f"--new-key={generate_key()}", WALLET_ENCRYPTION_KEY=other_key)
    assert result.returncode != 0
    assert public_key in result.stderr
    assert "Traceback" not in result.stderr


def test_a_key_starting_with_a_dash_works_in_the_documented_form(wallets):
    new_key = next(key for key in iter(generate_key, None) if key.startswith("-"))
    output = _rotate(f"--new-key={new_key}")
    assert f"WALLET_ENCRYPTION_KEY={new_key}," in output
    assert UserWallet.objects.filter(key_fingerprint=fingerprint(new_key)).count() == 7


def test_rotation_reseals_authenticator_secrets_and_is_audited(wallets, keyring):
    from custody.models import AuditEvent, SecondFactor

    secret = b"\x01" * 20
    SecondFactor.objects.create(user=wallets[0], encrypted_secret=keyring.seal(secret),
                                key_fingerprint=keyring.primary_fingerprint)
    new_key = generate_key()
    output = _rotate(f"--new-key={new_key}")
    assert "Re-sealed 1 authenticator secret(s)." in output
    factor = SecondFactor.objects.get()
    assert factor.key_fingerprint == fingerprint(new_key) and Keyring([new_key]).open(factor.encrypted_secret) == secret
    event = AuditEvent.objects.get(action="key_rotated")
    assert event.detail == {"wallets": 7, "second_factors": 1, "failed": 0}
