"""The only place a wallet's secret is opened: sign, then let the key go.

Nothing here returns or logs the keypair. Errors name the wallet by its public key only.
"""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from wallets.crypto import Keyring
from wallets.models import UserWallet


class SigningError(Exception):
    pass


def sign_versioned_transaction(*, wallet: UserWallet, transaction: VersionedTransaction,
                               keyring: Keyring) -> VersionedTransaction:
    """Add the wallet's signature to a (possibly partly signed) versioned transaction, keeping other signatures."""
    message = transaction.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    owner = _pubkey_index(signers, wallet)
    signatures = list(transaction.signatures)
    signatures[owner] = _sign(wallet, to_bytes_versioned(message), keyring)
    return VersionedTransaction.populate(message, signatures)


def sign_message_bytes(*, wallet: UserWallet, message: bytes, keyring: Keyring) -> Signature:
    return _sign(wallet, message, keyring)


def export_secret_base58(*, wallet: UserWallet, keyring: Keyring) -> str:
    """The 64-byte secret in base58, the format Phantom and Solflare import. Only for the user's own export."""
    keypair = _open(wallet, keyring)
    return str(keypair)


def _sign(wallet: UserWallet, message: bytes, keyring: Keyring) -> Signature:
    return _open(wallet, keyring).sign_message(message)


def _open(wallet: UserWallet, keyring: Keyring) -> Keypair:
    keypair = Keypair.from_bytes(keyring.open(wallet.encrypted_secret))
    if str(keypair.pubkey()) != wallet.public_key:
        raise SigningError(f"the sealed secret of wallet {wallet.public_key} does not match its public key")
    return keypair


def _pubkey_index(signers: list, wallet: UserWallet) -> int:
    for index, key in enumerate(signers):
        if str(key) == wallet.public_key:
            return index
    raise SigningError(f"wallet {wallet.public_key} is not a signer of this transaction")
