import base64
import threading

import pytest
from django.db import connection, connections
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.null_signer import NullSigner
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from custody.services import get_or_create_user_wallet
from kernel.config import get_config
from wallets.crypto import Keyring
from wallets.models import UserSettings, UserWallet
from wallets.signing import SigningError, export_secret_base58, sign_versioned_transaction

pytestmark = pytest.mark.django_db


def test_first_call_creates_wallet_and_settings_from_config_defaults():
    result = get_or_create_user_wallet(1001, "alice")
    assert result.created
    settings = UserSettings.objects.get(user=result.wallet)
    limits = get_config().trading
    assert settings.max_trade_size_lamports == limits.max_trade_size_lamports
    assert settings.daily_loss_limit_lamports == limits.max_daily_loss_lamports
    assert settings.slippage_bps == limits.default_slippage_bps
    assert settings.stop_loss_percentage == limits.stop_loss_percentage
    assert settings.priority_fee_lamports == limits.default_priority_fee_lamports
    assert not settings.snipe_enabled


def test_second_start_does_not_create_a_second_wallet():
    first = get_or_create_user_wallet(1002, "bob")
    second = get_or_create_user_wallet(1002, "bobby")
    assert not second.created
    assert second.wallet.pk == first.wallet.pk
    assert UserWallet.objects.count() == 1 and UserSettings.objects.count() == 1
    assert UserWallet.objects.get().telegram_username == "bobby"


def test_secret_is_never_stored_in_plaintext(keyring):
    wallet = get_or_create_user_wallet(1003, "carol").wallet
    secret = keyring.open(wallet.encrypted_secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM user_wallets WHERE id = %s", [wallet.pk])
        row = " ".join(str(column) for column in cursor.fetchone())
    for encoding in (str(Keypair.from_bytes(secret)), secret.hex(), base64.b64encode(secret).decode(),
                     secret[:32].hex(), base64.b64encode(secret[:32]).decode()):
        assert encoding not in row
    assert wallet.encrypted_secret in row  # the column holds the Fernet token, nothing else


def test_repr_and_str_show_no_secret():
    wallet = get_or_create_user_wallet(1004, "dave").wallet
    assert wallet.encrypted_secret not in repr(wallet) + str(wallet)


def _partly_signed_transfer(payer: str, other: Keypair) -> VersionedTransaction:
    """A two-signer transaction signed by ``other`` only, as a swap API returns it."""
    from solders.pubkey import Pubkey

    payer_key = Pubkey.from_string(payer)
    instructions = [transfer(TransferParams(from_pubkey=payer_key, to_pubkey=other.pubkey(), lamports=1)),
                    transfer(TransferParams(from_pubkey=other.pubkey(), to_pubkey=payer_key, lamports=1))]
    message = MessageV0.try_compile(payer_key, instructions, [], Hash.default())
    return VersionedTransaction(message, [NullSigner(payer_key), other])


def test_signing_fills_only_the_wallets_slot(keyring):
    wallet = get_or_create_user_wallet(1005, "erin").wallet
    other = Keypair()
    unsigned = _partly_signed_transfer(wallet.public_key, other)
    signed = sign_versioned_transaction(wallet=wallet, transaction=unsigned, keyring=keyring)
    assert signed.signatures[1] == unsigned.signatures[1]
    message = to_bytes_versioned(signed.message)
    assert signed.signatures[0].verify(signed.message.account_keys[0], message)
    assert signed.verify_with_results() == [True, True]


def test_signing_for_a_transaction_the_wallet_does_not_sign_is_refused(keyring):
    wallet = get_or_create_user_wallet(1006, "frank").wallet
    stranger = get_or_create_user_wallet(1007, "gina").wallet
    unsigned = _partly_signed_transfer(stranger.public_key, Keypair())
    with pytest.raises(SigningError, match=wallet.public_key):
        sign_versioned_transaction(wallet=wallet, transaction=unsigned, keyring=keyring)


def test_export_gives_the_phantom_format(keyring):
    wallet = get_or_create_user_wallet(1008, "hank").wallet
    exported = export_secret_base58(wallet=wallet, keyring=keyring)
    assert str(Keypair.from_base58_string(exported).pubkey()) == wallet.public_key


def test_a_wallet_sealed_with_an_unknown_key_cannot_sign():
    wallet = get_or_create_user_wallet(1009, "ivy").wallet
    from wallets.crypto import SecretUnavailable, generate_key

    with pytest.raises(SecretUnavailable) as caught:
        export_secret_base58(wallet=wallet, keyring=Keyring([generate_key()]))
    assert wallet.encrypted_secret not in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_starts_give_one_wallet(postgres_only):
    results, errors = [], []
    barrier = threading.Barrier(8)

    def start():
        try:
            barrier.wait()
            results.append(get_or_create_user_wallet(4242, "racer"))
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert UserWallet.objects.filter(telegram_user_id=4242).count() == 1
    assert UserSettings.objects.filter(user__telegram_user_id=4242).count() == 1
    assert len({r.wallet.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
