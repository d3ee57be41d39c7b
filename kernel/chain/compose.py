"""Compose a swap transaction from Jupiter's instructions (``/swap/v1/swap-instructions``) instead of signing the
one ``/swap`` builds: the bot sets its own compute budget, may add a tip, and on a full exit closes the emptied token
account so its rent comes back to the trader. The result is unsigned (the trader is the one signer the bot fills)
and goes through the same inspection as any swap before it is signed: nothing here is trusted for being ours.

Order (Jupiter's documented one for added instructions): SetComputeUnitLimit, SetComputeUnitPrice, Jupiter's setup
instructions, its swap instruction, the CloseAccount (post-swap), Jupiter's cleanup instruction, the tip last.
Jupiter's compute-budget instructions are left out (the bot's replace them); its ``otherInstructions`` only ever
hold a Jito tip Jupiter was asked for, which the bot never asks for; the token-ledger instruction likewise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.solders import CompileError
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction
from spl.token.instructions import close_account
from spl.token.models import CloseAccountParams

from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import JupiterClient, Quote, SwapInstructions, SwapTransaction
from kernel.chain.rpc import Holdings, RpcGateway

MAX_TRANSACTION_BYTES = 1232  # a transaction must fit one IPv6 packet's payload
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000


@dataclass(frozen=True)
class TokenAccountClose:
    """A token account of the trader's to close once the swap has emptied it: its rent goes back to the trader."""

    account: str
    program: str  # the token program that owns it (SPL Token or Token-2022)


async def composed_swap(rpc: RpcGateway, jupiter: JupiterClient, *, quote: Quote, owner: str,
                        priority_fee_lamports: int, close: TokenAccountClose | None = None,
                        tip_account: str | None = None, tip_lamports: int = 0) -> SwapTransaction:
    """Ask Jupiter for the swap's instructions and compose them. The blockhash is the node's, at confirmed, read
    while Jupiter answers; the lookup tables are read after (the gateway keeps them a few seconds), so composing
    costs one sequential round trip more than ``/swap`` when the tables are not cached, none when they are."""
    swap, (blockhash, last_valid_block_height) = await asyncio.gather(
        jupiter.swap_instructions(quote=quote, user_public_key=owner, priority_fee_lamports=priority_fee_lamports),
        rpc.latest_blockhash())
    tables = await rpc.lookup_tables(swap.lookup_tables) if swap.lookup_tables else {}
    transaction = compose_swap(owner=owner, swap=swap, tables=tables, blockhash=blockhash,
                               priority_fee_lamports=priority_fee_lamports, close=close, tip_account=tip_account,
                               tip_lamports=tip_lamports)
    return SwapTransaction(transaction, last_valid_block_height)


def account_to_close(holdings: Holdings, *, owner: str, mint: str, selling: int) -> TokenAccountClose | None:
    """The trader's associated token account for ``mint`` when selling ``selling`` raw units empties it and the
    trader can close it; else None. Jupiter sells from that account; another account of the mint, a close
    authority of someone else, or Token-2022 transfer fees withheld in it (the program refuses to close an
    account holding them) leave it open."""
    for address, held in holdings.tokens.items():
        if held.mint != mint or held.owner != owner:
            continue
        associated = get_associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint),
                                                  Pubkey.from_string(held.program))
        if address != str(associated):
            continue
        if held.amount == selling and held.withheld_fee == 0 and held.close_authority in (None, owner):
            return TokenAccountClose(account=address, program=held.program)
    return None


def compose_swap(*, owner: str, swap: SwapInstructions, tables: Mapping[str, Sequence[str]], blockhash: str,
                 priority_fee_lamports: int, close: TokenAccountClose | None = None, tip_account: str | None = None,
                 tip_lamports: int = 0) -> VersionedTransaction:
    """The v0 swap transaction, unsigned (every signature slot empty), for ``owner`` as fee payer.

    ``tables`` maps the lookup tables Jupiter named to their addresses (as read from the chain); a table that could
    not be read is left out and its accounts become static keys (the size check then says if that does not fit).
    ``priority_fee_lamports`` is spread over Jupiter's compute-unit limit, rounded down, so price × limit never
    exceeds it."""
    if tip_lamports < 0 or (tip_lamports and not tip_account):
        raise ValueError("a tip needs a tip account and a positive amount")
    payer = Pubkey.from_string(owner)
    limit = swap.compute_unit_limit
    instructions: list[Instruction] = [
        set_compute_unit_limit(limit),
        set_compute_unit_price(priority_fee_lamports * MICRO_LAMPORTS_PER_LAMPORT // limit),
        *swap.setup,
        swap.swap,
    ]
    if close is not None:
        instructions.append(close_account(CloseAccountParams(
            program_id=Pubkey.from_string(close.program), account=Pubkey.from_string(close.account), dest=payer,
            owner=payer, signers=[])))
    if swap.cleanup is not None:
        instructions.append(swap.cleanup)
    if tip_lamports:
        instructions.append(transfer(TransferParams(from_pubkey=payer, to_pubkey=Pubkey.from_string(str(tip_account)),
                                                    lamports=tip_lamports)))
    lookups = [AddressLookupTableAccount(Pubkey.from_string(address),
                                         [Pubkey.from_string(key) for key in tables[address]])
               for address in swap.lookup_tables if address in tables]
    try:
        message = MessageV0.try_compile(payer, instructions, lookups, Hash.from_string(blockhash))
    except CompileError as err:  # more accounts than a message can index
        raise JupiterError(f"the swap's instructions do not compile: {err}", status=502) from None
    # Every required signer gets an empty slot: a second signer Jupiter slipped in shows at inspection, and the
    # inspector refuses it, rather than failing here in a way that could be mistaken for a network error.
    transaction = VersionedTransaction.populate(message, [Signature.default()] * message.header.num_required_signatures)
    size = len(bytes(transaction))
    if size > MAX_TRANSACTION_BYTES:
        raise JupiterError(f"the composed swap is {size} bytes, over the {MAX_TRANSACTION_BYTES} a transaction may "
                           "have", error_code="TRANSACTION_TOO_LARGE", status=502)
    return transaction
