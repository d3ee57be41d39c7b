"""Token screening from the mint account's bytes (Token-2022 TLV extensions after the account-type byte)."""

from __future__ import annotations

from kernel.chain.rpc import MintInfo, mint_extensions
from positions.screening import screen_mint

KEY = bytes(range(1, 33))


def _mint_data(*entries: tuple[int, bytes]) -> bytes:
    tlv = b"".join(kind.to_bytes(2, "little") + len(value).to_bytes(2, "little") + value for kind, value in entries)
    return bytes(165) + b"\x01" + tlv + bytes(8)  # base mint (zeros here), padding, Mint type, extensions, padding


def _info(*entries, freeze=None, mint_authority=None) -> MintInfo:
    return MintInfo(address="M", decimals=6, supply=1, program_id="T", mint_authority=mint_authority,
                    freeze_authority=freeze, extensions=mint_extensions(_mint_data(*entries)))


def _fee(bps: int, authority: bytes = bytes(32)) -> bytes:
    fee = (0).to_bytes(8, "little") + (10**9).to_bytes(8, "little") + bps.to_bytes(2, "little")
    return authority + bytes(32) + bytes(8) + fee + fee


def test_plain_spl_mint_has_no_extensions():
    assert mint_extensions(bytes(82)) == ()
    assert screen_mint(_info(), max_transfer_fee_bps=100).ok


def test_each_dangerous_extension_is_refused_with_its_reason():
    cases = {
        "freeze authority": _info(freeze="F" * 44),
        "permanent delegate": _info((12, KEY)),
        "transfer hook": _info((14, bytes(32) + KEY)),
        "transfer hook authority": _info((14, KEY + bytes(32))),
        "non-transferable": _info((9, b"")),
        "pause all transfers": _info((26, KEY + b"\x00")),
        "start frozen": _info((6, b"\x02")),
        "3% fee": _info((1, _fee(300))),
    }
    for reason, info in cases.items():
        screening = screen_mint(info, max_transfer_fee_bps=100)
        assert not screening.ok and reason in screening.summary(), (reason, screening)


def test_harmless_or_empty_extensions_pass():
    info = _info((18, KEY + KEY), (12, bytes(32)), (14, bytes(64)), (6, b"\x01"), (3, KEY))
    screening = screen_mint(info, max_transfer_fee_bps=100)
    assert screening.ok and not screening.warnings, screening


def test_small_fee_unknown_extension_and_mint_authority_are_warnings():
    info = _info((1, _fee(50, authority=KEY)), (99, b"?"), mint_authority="A" * 44)
    screening = screen_mint(info, max_transfer_fee_bps=100)
    assert screening.ok
    assert set(screening.warnings) == {"0.5% transfer fee", "the transfer fee can be changed by its authority",
                                       "unknown Token-2022 extension 99", "more tokens can still be minted"}


def test_truncated_extension_data_is_refused_not_crashed():
    screening = screen_mint(_info((1, b"\x01\x02")), max_transfer_fee_bps=100)
    assert not screening.ok
