"""The swap composer: the bot's compute budget, Jupiter's setup, swap and cleanup, a CloseAccount on a full exit only,
a tip when asked; v0 with Jupiter's lookup tables, unsigned, the trader the only signer."""

from __future__ import annotations

import pytest
from solders.compute_budget import ID as COMPUTE_BUDGET
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM
from solders.token.associated import get_associated_token_address
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import close_account, create_idempotent_associated_token_account
from spl.token.models import CloseAccountParams

from kernel.chain.compose import MAX_TRANSACTION_BYTES, TokenAccountClose, compose_swap
from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import SwapInstructions

OWNER = Keypair().pubkey()
MINT = Keypair().pubkey()
POOL = [Keypair().pubkey() for _ in range(5)]
TABLE = Keypair().pubkey()
JUPITER = Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
BLOCKHASH = str(Hash.new_unique())
ATA = get_associated_token_address(OWNER, MINT)
TIP = Keypair().pubkey()


def swap_instructions(*, setup: bool = True, cleanup: Instruction | None = None, limit: int = 180_000,
                      swap_accounts: list[AccountMeta] | None = None) -> SwapInstructions:
    accounts = swap_accounts or [AccountMeta(OWNER, True, True), AccountMeta(ATA, False, True),
                                 *[AccountMeta(key, False, True) for key in POOL]]
    return SwapInstructions(
        compute_budget=(set_compute_unit_limit(limit), set_compute_unit_price(999_999)),
        setup=(create_idempotent_associated_token_account(OWNER, OWNER, MINT),) if setup else (),
        swap=Instruction(JUPITER, b"route", accounts), cleanup=cleanup, other=(), lookup_tables=(str(TABLE),),
        compute_unit_limit=limit, prioritization_fee_lamports=1)


def compose(swap: SwapInstructions | None = None, **changes):
    values = dict(owner=str(OWNER), swap=swap or swap_instructions(), tables={str(TABLE): [str(k) for k in POOL]},
                  blockhash=BLOCKHASH, priority_fee_lamports=50_000)
    values.update(changes)
    return compose_swap(**values)


def programs(transaction) -> list[Pubkey]:
    message = transaction.message
    keys = list(message.account_keys)
    return [keys[ix.program_id_index] for ix in message.instructions]


def test_it_puts_its_own_compute_budget_first_then_jupiters_setup_and_swap():
    transaction = compose()
    assert programs(transaction) == [COMPUTE_BUDGET, COMPUTE_BUDGET, ASSOCIATED_TOKEN_PROGRAM_ID, JUPITER]
    limit, price = (bytes(ix.data) for ix in transaction.message.instructions[:2])
    assert limit == bytes(set_compute_unit_limit(180_000).data)  # Jupiter's compute-unit limit, kept
    assert price == bytes(set_compute_unit_price(50_000 * 1_000_000 // 180_000).data)  # the bot's fee, not 999,999


def test_its_priority_fee_never_exceeds_the_fee_chosen():
    for fee, limit in [(50_000, 180_000), (1, 1_400_000), (12_345, 7), (0, 200_000)]:
        price = int.from_bytes(bytes(compose(swap_instructions(limit=limit), priority_fee_lamports=fee)
                                     .message.instructions[1].data)[1:9], "little")
        assert price * limit // 1_000_000 <= fee and -(-price * limit // 1_000_000) <= fee


def test_it_is_v0_through_jupiters_lookup_table_unsigned_with_the_trader_the_only_signer():
    transaction = compose()
    message = transaction.message
    assert [lookup.account_key for lookup in message.address_table_lookups] == [TABLE]
    assert not set(message.account_keys) & set(POOL)  # the pool's accounts come through the table
    assert message.header.num_required_signatures == 1 and message.account_keys[0] == OWNER
    assert list(transaction.signatures) == [Signature.default()]
    assert str(message.recent_blockhash) == BLOCKHASH


def test_it_closes_the_token_account_to_the_trader_on_a_full_exit_after_the_swap_before_the_cleanup():
    unwrap = Instruction(TOKEN_PROGRAM_ID, bytes([9]), [AccountMeta(OWNER, False, True)])
    swap = swap_instructions(setup=False, cleanup=unwrap)
    transaction = compose(swap, close=TokenAccountClose(str(ATA), str(TOKEN_PROGRAM_ID)))
    assert programs(transaction) == [COMPUTE_BUDGET, COMPUTE_BUDGET, JUPITER, TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID]
    keys = list(transaction.message.account_keys)
    close = transaction.message.instructions[3]
    assert bytes(close.data) == bytes(close_account(CloseAccountParams(
        program_id=TOKEN_PROGRAM_ID, account=ATA, dest=OWNER, owner=OWNER, signers=[])).data)
    assert [keys[i] for i in bytes(close.accounts)] == [ATA, OWNER, OWNER]  # account, rent to the trader, authority
    assert bytes(transaction.message.instructions[4].data) == bytes([9])  # Jupiter's cleanup follows


def test_it_closes_nothing_unless_asked():
    assert TOKEN_PROGRAM_ID not in programs(compose(swap_instructions(setup=False)))


def test_a_token_2022_account_is_closed_by_token_2022():
    ata = get_associated_token_address(OWNER, MINT, TOKEN_2022_PROGRAM_ID)
    transaction = compose(close=TokenAccountClose(str(ata), str(TOKEN_2022_PROGRAM_ID)))
    assert programs(transaction)[-1] == TOKEN_2022_PROGRAM_ID


def test_a_tip_is_a_system_transfer_from_the_trader_last():
    transaction = compose(tip_account=str(TIP), tip_lamports=10_000,
                          close=TokenAccountClose(str(ATA), str(TOKEN_PROGRAM_ID)))
    assert programs(transaction)[-1] == SYSTEM
    tip = transaction.message.instructions[-1]
    keys = list(transaction.message.account_keys)
    assert [keys[i] for i in bytes(tip.accounts)] == [OWNER, TIP]
    assert bytes(tip.data) == (2).to_bytes(4, "little") + (10_000).to_bytes(8, "little")
    with pytest.raises(ValueError):
        compose(tip_lamports=10_000)  # no account to tip


def test_a_second_signer_jupiter_names_gets_an_empty_slot_for_the_inspector_to_refuse():
    stranger = Keypair().pubkey()
    swap = swap_instructions(swap_accounts=[AccountMeta(OWNER, True, True), AccountMeta(stranger, True, False)])
    transaction = compose(swap)
    assert transaction.message.header.num_required_signatures == 2
    assert list(transaction.signatures) == [Signature.default()] * 2


def test_an_unread_lookup_table_leaves_its_accounts_static_and_too_large_is_refused():
    transaction = compose(tables={})
    assert not transaction.message.address_table_lookups and set(POOL) <= set(transaction.message.account_keys)
    many = [AccountMeta(OWNER, True, True), *[AccountMeta(Keypair().pubkey(), False, True) for _ in range(40)]]
    with pytest.raises(JupiterError) as caught:
        compose(swap_instructions(swap_accounts=many), tables={})
    assert caught.value.error_code == "TRANSACTION_TOO_LARGE" and str(MAX_TRANSACTION_BYTES) in str(caught.value)


# Which account a sale closes: the trader's associated account for the mint, when the sale empties it and it can be.

def holding(amount: int, *, program=TOKEN_PROGRAM_ID, withheld: int = 0, close_authority: str | None = None,
            owner: Pubkey = OWNER):
    from kernel.chain.rpc import TokenHolding

    return TokenHolding(mint=str(MINT), owner=str(owner), amount=amount, delegate=None,
                        close_authority=close_authority, program=str(program), withheld_fee=withheld)


def to_close(tokens: dict, selling: int = 1_000):
    from kernel.chain.compose import account_to_close
    from kernel.chain.rpc import Holdings

    return account_to_close(Holdings(sol=10**9, tokens=tokens), owner=str(OWNER), mint=str(MINT), selling=selling)


def test_a_sale_of_the_whole_balance_closes_the_associated_account():
    assert to_close({str(ATA): holding(1_000)}) == TokenAccountClose(str(ATA), str(TOKEN_PROGRAM_ID))
    ata_2022 = get_associated_token_address(OWNER, MINT, TOKEN_2022_PROGRAM_ID)
    assert to_close({str(ata_2022): holding(1_000, program=TOKEN_2022_PROGRAM_ID)}) == \
        TokenAccountClose(str(ata_2022), str(TOKEN_2022_PROGRAM_ID))
    assert to_close({str(ATA): holding(1_000, close_authority=str(OWNER))}) is not None


@pytest.mark.parametrize("case", ["partial", "withheld_fees", "someone_elses_close_authority", "not_associated",
                                  "no_account"])
def test_anything_less_than_an_emptied_closable_account_stays_open(case):
    tokens = {
        "partial": {str(ATA): holding(1_001)},
        # Token-2022 refuses to close an account holding withheld transfer fees: the whole sale would fail.
        "withheld_fees": {str(ATA): holding(1_000, program=TOKEN_2022_PROGRAM_ID, withheld=3)},
        "someone_elses_close_authority": {str(ATA): holding(1_000, close_authority=str(TIP))},
        "not_associated": {str(Keypair().pubkey()): holding(1_000)},
        "no_account": {},
    }[case]
    if case == "withheld_fees":
        tokens = {str(get_associated_token_address(OWNER, MINT, TOKEN_2022_PROGRAM_ID)): tokens[str(ATA)]}
    assert to_close(tokens) is None


def test_the_withheld_transfer_fees_of_a_token_2022_account_are_read():
    from solders.account import Account
    from solders.token.state import TokenAccount, TokenAccountState

    from kernel.chain.rpc import parse_token_account

    base = bytes(TokenAccount(mint=MINT, owner=OWNER, amount=5, delegate=None, state=TokenAccountState.Initialized,
                              is_native=None, delegated_amount=0, close_authority=None))
    immutable_owner = (7).to_bytes(2, "little") + (0).to_bytes(2, "little")
    withheld = (2).to_bytes(2, "little") + (8).to_bytes(2, "little") + (1234).to_bytes(8, "little")
    account = Account(lamports=2_074_080, data=base + bytes([2]) + immutable_owner + withheld,
                      owner=TOKEN_2022_PROGRAM_ID, executable=False)
    assert parse_token_account(account).withheld_fee == 1234
    plain = Account(lamports=2_039_280, data=base, owner=TOKEN_PROGRAM_ID, executable=False)
    assert parse_token_account(plain).withheld_fee == 0
