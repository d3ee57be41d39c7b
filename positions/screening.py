"""Read a mint and decide whether buying its token is safe enough: refuse, with the reason, tokens whose creator
keeps a way to take or lock holders' funds (a freeze authority, or the Token-2022 extensions that do the same).

Works from the mint account alone, which the buy reads anyway, so screening adds no round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.chain.rpc import MintInfo

TRANSFER_FEE_CONFIG = 1
MINT_CLOSE_AUTHORITY = 3
DEFAULT_ACCOUNT_STATE = 6
NON_TRANSFERABLE = 9
PERMANENT_DELEGATE = 12
TRANSFER_HOOK = 14
PAUSABLE = 26
HARMLESS = {
    3: "mint close authority", 4: "confidential transfers", 10: "interest-bearing display", 16: "confidential fees",
    18: "metadata pointer", 19: "on-chain metadata", 20: "group pointer", 21: "token group", 22: "group member pointer",
    23: "group member", 25: "scaled display amount",
}
FROZEN_STATE = 2


@dataclass(frozen=True)
class Screening:
    refusals: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.refusals

    def summary(self) -> str:
        """One line for the token card."""
        if self.refusals:
            return "refused: " + "; ".join(self.refusals)
        if self.warnings:
            return "passed, with warnings: " + "; ".join(self.warnings)
        return "passed (no freeze authority, no dangerous extensions)"


def screen_mint(info: MintInfo, *, max_transfer_fee_bps: int) -> Screening:
    refusals: list[str] = []
    warnings: list[str] = []
    if info.freeze_authority is not None:
        refusals.append("freeze authority is set: its creator can freeze holders' tokens")
    if info.mint_authority is not None:
        warnings.append("more tokens can still be minted")
    for kind, value in info.extensions:
        if kind == PERMANENT_DELEGATE and _key_set(value[:32]):
            refusals.append("a permanent delegate can move or burn tokens out of any holder's wallet")
        elif kind == TRANSFER_HOOK and _key_set(value[32:64]):
            refusals.append("a transfer hook runs the creator's program on every transfer and can block sales")
        elif kind == TRANSFER_HOOK and _key_set(value[:32]):  # authority (32), then program id (32)
            refusals.append("its transfer hook authority can switch on a program that blocks sales at any time")
        elif kind == NON_TRANSFERABLE:
            refusals.append("the token is non-transferable, so it could never be sold")
        elif kind == PAUSABLE:
            refusals.append("its creator can pause all transfers")
        elif kind == DEFAULT_ACCOUNT_STATE and value[:1] == bytes([FROZEN_STATE]):
            refusals.append("new holders' accounts start frozen")
        elif kind == TRANSFER_FEE_CONFIG:
            _transfer_fee(value, max_transfer_fee_bps, refusals, warnings)
        elif kind not in HARMLESS and kind not in (PERMANENT_DELEGATE, TRANSFER_HOOK, DEFAULT_ACCOUNT_STATE):
            warnings.append(f"unknown Token-2022 extension {kind}")
    return Screening(tuple(refusals), tuple(warnings))


def _transfer_fee(value: bytes, max_bps: int, refusals: list[str], warnings: list[str]) -> None:
    # authority (32), withdraw authority (32), withheld u64, then older and newer fees (epoch u64, max u64, bps u16)
    if len(value) < 108:
        refusals.append("its transfer-fee settings cannot be read")
        return
    older = int.from_bytes(value[88:90], "little")
    newer = int.from_bytes(value[106:108], "little")
    bps = max(older, newer)
    if bps > max_bps:
        refusals.append(f"every transfer pays a {_percent(bps)} fee (more than the {_percent(max_bps)} allowed)")
    elif bps:
        warnings.append(f"{_percent(bps)} transfer fee")
    if _key_set(value[:32]):
        warnings.append("the transfer fee can be changed by its authority")


def _key_set(raw: bytes) -> bool:
    return len(raw) == 32 and any(raw)


def _percent(bps: int) -> str:
    whole, part = divmod(bps, 100)
    return f"{whole}%" if not part else f"{whole}.{part:02d}".rstrip("0") + "%"
