"""The swap inspector's rules, each held against a transaction built the way Jupiter builds one (v0, a lookup
table, only the trader signs) and against the same transaction with one attack added."""

from __future__ import annotations

import pytest
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.null_signer import NullSigner
from solders.pubkey import Pubkey
from solders.system_program import AdvanceNonceAccountParams, TransferParams, advance_nonce_account, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    approve,
    close_account,
    create_idempotent_associated_token_account,
    set_authority,
    sync_native,
)
from spl.token.models import ApproveParams, AuthorityType, CloseAccountParams, SetAuthorityParams, SyncNativeParams

from custody.errors import SwapRefused
from custody.inspection import (
    JUPITER_PROGRAM,
    SOL_MINT,
    SwapRequest,
    check_effects,
    check_message,
    check_quote,
    closes_to_owner,
    decode,
)
from kernel.chain.jupiter import Quote
from kernel.chain.rpc import Holdings, TokenHolding
from telegrambot.texts import refusal

OWNER = Keypair()
STRANGER = Keypair().pubkey()
MINT = Keypair().pubkey()
POOL = [Keypair().pubkey() for _ in range(4)]
TABLE = Keypair().pubkey()
RENT = 2_157_600
SYSTEM = Pubkey.default()
BLOCKHASH = Hash.new_unique()
WSOL = get_associated_token_address(OWNER.pubkey(), Pubkey.from_string(SOL_MINT))
TOKEN_ATA = get_associated_token_address(OWNER.pubkey(), MINT)


def buy_request(**changes) -> SwapRequest:
    values = dict(owner=str(OWNER.pubkey()), side="buy", mint=str(MINT), token_program=str(TOKEN_PROGRAM_ID),
                  amount=100_000_000, slippage_bps=100, priority_fee_cap=100_000)
    values.update(changes)
    return SwapRequest(**values)


def route() -> Instruction:
    owner = OWNER.pubkey()
    accounts = [AccountMeta(owner, True, True), AccountMeta(WSOL, False, True), AccountMeta(TOKEN_ATA, False, True),
                *[AccountMeta(key, False, True) for key in POOL]]
    return Instruction(Pubkey.from_string(JUPITER_PROGRAM), b"\xe5\x17\xcb\x97\x7a\xe3\xad\x2a", accounts)


def jupiter_buy(*, extra: list[Instruction] = (), price: int = 500_000, limit: int = 200_000,
                signers: tuple = ()) -> VersionedTransaction:
    owner = OWNER.pubkey()
    instructions = [
        set_compute_unit_limit(limit), set_compute_unit_price(price),
        create_idempotent_associated_token_account(owner, owner, Pubkey.from_string(SOL_MINT)),
        transfer(TransferParams(from_pubkey=owner, to_pubkey=WSOL, lamports=100_000_000)),
        sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM_ID, account=WSOL)),
        create_idempotent_associated_token_account(owner, owner, MINT),
        route(),
        close_account(CloseAccountParams(program_id=TOKEN_PROGRAM_ID, account=WSOL, dest=owner, owner=owner)),
        *extra,
    ]
    message = MessageV0.try_compile(owner, instructions, [AddressLookupTableAccount(TABLE, POOL)], BLOCKHASH)
    return VersionedTransaction(message, [NullSigner(owner), *signers])


def check(transaction: VersionedTransaction, request: SwapRequest | None = None) -> int:
    return check_message(decode(transaction, {str(TABLE): [str(key) for key in POOL]}), request or buy_request(),
                         rent_per_account=RENT)


def refused(transaction: VersionedTransaction, request: SwapRequest | None = None) -> SwapRefused:
    with pytest.raises(SwapRefused) as caught:
        check(transaction, request)
    return caught.value


def test_it_accepts_a_jupiter_shaped_buy():
    assert check(jupiter_buy()) == 2  # two token accounts may be created: the token's and wrapped SOL's


def test_it_resolves_accounts_loaded_from_the_lookup_table():
    decoded = decode(jupiter_buy(), {str(TABLE): [str(key) for key in POOL]})
    assert set(map(str, POOL)) <= set(decoded.keys)
    assert set(map(str, POOL)) <= decoded.writable


def test_it_refuses_a_lookup_table_it_could_not_read():
    with pytest.raises(SwapRefused) as caught:
        decode(jupiter_buy(), {})
    assert caught.value.check == "lookup_table"


def test_it_refuses_an_entry_missing_from_the_lookup_table():
    with pytest.raises(SwapRefused) as caught:
        decode(jupiter_buy(), {str(TABLE): [str(POOL[0])]})
    assert caught.value.check == "lookup_table"


def test_it_refuses_a_drain_transfer_to_a_stranger():
    drain = transfer(TransferParams(from_pubkey=OWNER.pubkey(), to_pubkey=STRANGER, lamports=9 * 10**9))
    error = refused(jupiter_buy(extra=[drain]))
    assert error.check == "sol_transfer"
    assert "nothing was signed" in refusal(error)


def test_it_refuses_more_sol_to_the_traders_own_account_than_the_trade_needs():
    extra = transfer(TransferParams(from_pubkey=OWNER.pubkey(), to_pubkey=WSOL, lamports=2 * 10**9))
    assert refused(jupiter_buy(extra=[extra])).check == "sol_transfer"


def test_it_allows_a_tip_to_a_known_tip_account_only_and_within_the_traders_tip():
    tip_account = Keypair().pubkey()
    tipped = jupiter_buy(extra=[transfer(TransferParams(from_pubkey=OWNER.pubkey(), to_pubkey=tip_account,
                                                        lamports=10_000))])
    assert refused(tipped).check == "sol_transfer"
    decoded = decode(tipped, {str(TABLE): [str(key) for key in POOL]})
    tips = frozenset({str(tip_account)})
    check_message(decoded, buy_request(tip_cap=10_000), rent_per_account=RENT, tip_accounts=tips)
    for unprotected_or_lower in (buy_request(), buy_request(tip_cap=9_999)):  # no tip at all, or a smaller one
        with pytest.raises(SwapRefused) as caught:
            check_message(decoded, unprotected_or_lower, rent_per_account=RENT, tip_accounts=tips)
        assert (caught.value.check, caught.value.finding) == ("tip", "tip_above_cap")
    assert "more than your MEV tip of 9999 lamports" in refusal(caught.value)


def test_it_refuses_an_approve_to_a_stranger():
    grant = approve(ApproveParams(program_id=TOKEN_PROGRAM_ID, source=TOKEN_ATA, delegate=STRANGER,
                                  owner=OWNER.pubkey(), amount=2**64 - 1))
    assert refused(jupiter_buy(extra=[grant])).check == "approve"


def test_it_refuses_a_close_to_a_stranger():
    close = close_account(CloseAccountParams(program_id=TOKEN_PROGRAM_ID, account=TOKEN_ATA, dest=STRANGER,
                                              owner=OWNER.pubkey()))
    assert refused(jupiter_buy(extra=[close])).check == "close_account"


def test_it_refuses_handing_a_token_account_to_a_stranger():
    handover = set_authority(SetAuthorityParams(program_id=TOKEN_PROGRAM_ID, account=TOKEN_ATA,
                                                authority=AuthorityType.ACCOUNT_OWNER,
                                                current_authority=OWNER.pubkey(), new_authority=STRANGER))
    assert refused(jupiter_buy(extra=[handover])).check == "set_authority"


def test_it_refuses_an_unknown_program():
    unknown = Instruction(Keypair().pubkey(), b"\x01", [AccountMeta(OWNER.pubkey(), True, True)])
    assert refused(jupiter_buy(extra=[unknown])).check == "unknown_program"


def test_it_refuses_a_second_signer():
    attacker = Keypair()
    co_signed = Instruction(Pubkey.from_string(JUPITER_PROGRAM), b"", [AccountMeta(attacker.pubkey(), True, True)])
    assert refused(jupiter_buy(extra=[co_signed], signers=(attacker,))).check == "signer"


def test_it_refuses_a_transaction_someone_else_pays_for():
    payer = Keypair()
    message = MessageV0.try_compile(payer.pubkey(), [route()], [], BLOCKHASH)
    assert refused(VersionedTransaction(message, [payer, NullSigner(OWNER.pubkey())])).check == "signer"


def test_it_refuses_a_priority_fee_above_the_traders_cap():
    assert check(jupiter_buy(price=500_000, limit=200_000)) == 2  # exactly 100,000 lamports: the cap
    assert refused(jupiter_buy(price=500_001, limit=200_000)).check == "priority_fee"
    inflated = jupiter_buy(price=25_000_000_000, limit=200_000)  # 5 SOL
    assert "above your cap" in refusal(refused(inflated))


def test_it_refuses_a_durable_nonce_that_would_never_expire():
    nonce = advance_nonce_account(AdvanceNonceAccountParams(nonce_pubkey=Keypair().pubkey(),
                                                            authorized_pubkey=OWNER.pubkey()))
    assert refused(jupiter_buy(extra=[nonce])).check == "system_instruction"


def test_it_refuses_a_token_account_created_for_someone_else():
    gift = create_idempotent_associated_token_account(OWNER.pubkey(), STRANGER, MINT)
    assert refused(jupiter_buy(extra=[gift])).check == "account_taken"


def quote(**changes) -> Quote:
    values = dict(input_mint=SOL_MINT, output_mint=str(MINT), in_amount=100_000_000, out_amount=1_000_000,
                  min_out_amount=990_000, slippage_bps=100, price_impact_pct=0, raw={"swapMode": "ExactIn"})
    values.update(changes)
    return Quote(**values)


def test_a_quote_that_echoes_the_request_passes():
    check_quote(quote(), buy_request())


@pytest.mark.parametrize("changes", [
    {"output_mint": str(Keypair().pubkey())}, {"input_mint": str(MINT)}, {"in_amount": 300_000_000},
    {"slippage_bps": 5_000}, {"min_out_amount": 0}, {"min_out_amount": 1_000_001},
    {"raw": {"swapMode": "ExactOut"}}, {"out_amount": 0, "min_out_amount": 0},
])
def test_a_quote_for_anything_else_is_refused(changes):
    with pytest.raises(SwapRefused) as caught:
        check_quote(quote(**changes), buy_request())
    assert caught.value.check == "quote_mismatch"


class Account:
    """An account as the simulation returns it (lamports, owner, data)."""

    def __init__(self, lamports: int, owner: Pubkey = SYSTEM, data: bytes = b"") -> None:
        self.lamports, self.owner, self.data = lamports, owner, data


def token_account(mint: Pubkey, amount: int, *, owner: Pubkey | None = None, delegate: Pubkey | None = None) -> Account:
    from solders.token.state import TokenAccount, TokenAccountState

    data = bytes(TokenAccount(mint=mint, owner=owner or OWNER.pubkey(), amount=amount, delegate=delegate,
                              state=TokenAccountState.Initialized, is_native=None, delegated_amount=0,
                              close_authority=None))
    return Account(RENT, TOKEN_PROGRAM_ID, data)


def effects(after: dict, *, tokens: dict | None = None, sol: int = 10**9, request: SwapRequest | None = None,
            creations: int = 2, min_out: int = 990_000) -> None:
    holdings = Holdings(sol=sol, tokens=tokens or {})
    check_effects(request or buy_request(), holdings=holdings, after=after, min_out=min_out,
                  account_creations=creations, rent_per_account=RENT)


def test_an_honest_buy_has_the_effects_asked_for():
    owner = str(OWNER.pubkey())
    effects({owner: Account(10**9 - 100_000_000 - 105_000 - RENT), str(TOKEN_ATA): token_account(MINT, 1_000_000)})


def test_a_buy_that_takes_more_sol_than_asked_is_refused():
    owner = str(OWNER.pubkey())
    with pytest.raises(SwapRefused) as caught:
        effects({owner: Account(10**9 - 300_000_000), str(TOKEN_ATA): token_account(MINT, 1_000_000)}, sol=10**9)
    assert caught.value.check == "sol_out"


def test_a_buy_whose_token_does_not_arrive_is_refused():
    owner, junk = str(OWNER.pubkey()), Keypair().pubkey()
    junk_ata = get_associated_token_address(OWNER.pubkey(), junk)
    with pytest.raises(SwapRefused) as caught:
        effects({owner: Account(10**9 - 100_105_000), str(junk_ata): token_account(junk, 1_000_000)})
    assert caught.value.check == "output"


@pytest.mark.parametrize(("other_after", "check"), [
    ({"amount": 5, "delegate": STRANGER}, "approve"),  # a stranger may now spend another holding
    ({"amount": 0}, "other_token"),  # another holding emptied
    ({"amount": 5, "owner": STRANGER}, "account_taken"),  # another holding handed over
])
def test_a_swap_that_touches_another_holding_is_refused(other_after, check):
    other = Keypair().pubkey()
    other_ata = str(get_associated_token_address(OWNER.pubkey(), other))
    held = {other_ata: TokenHolding(mint=str(other), owner=str(OWNER.pubkey()), amount=5, delegate=None,
                                    close_authority=None)}
    after = {str(OWNER.pubkey()): Account(10**9 - 100_105_000), str(TOKEN_ATA): token_account(MINT, 1_000_000),
             other_ata: token_account(other, **other_after)}
    with pytest.raises(SwapRefused) as caught:
        effects(after, tokens=held)
    assert caught.value.check == check


def sell_request() -> SwapRequest:
    return buy_request(side="sell", amount=1_000_000)


def test_a_sell_that_takes_more_tokens_or_pays_too_little_is_refused():
    owner = str(OWNER.pubkey())
    held = {str(TOKEN_ATA): TokenHolding(mint=str(MINT), owner=owner, amount=3_000_000, delegate=None,
                                         close_authority=None)}
    honest = {owner: Account(10**9 + 50_000_000), str(TOKEN_ATA): token_account(MINT, 2_000_000)}
    effects(honest, tokens=held, request=sell_request(), min_out=50_000_000, creations=0)
    greedy = {owner: Account(10**9 + 50_000_000), str(TOKEN_ATA): token_account(MINT, 0)}
    with pytest.raises(SwapRefused) as caught:
        effects(greedy, tokens=held, request=sell_request(), min_out=50_000_000, creations=0)
    assert caught.value.check == "token_out"
    short = {owner: Account(10**9 - 10**9 // 2), str(TOKEN_ATA): token_account(MINT, 2_000_000)}
    with pytest.raises(SwapRefused) as caught:
        effects(short, tokens=held, request=sell_request(), min_out=50_000_000, creations=0)
    assert caught.value.check == "output"


# A full exit: the bot's own CloseAccount returns the emptied token account's rent to the trader.

def full_exit(*, dest: Pubkey | None = None) -> VersionedTransaction:
    """A sell of the whole balance, with a CloseAccount of the token account after the route."""
    owner = OWNER.pubkey()
    instructions = [set_compute_unit_limit(200_000), set_compute_unit_price(500_000), route(),
                    close_account(CloseAccountParams(program_id=TOKEN_PROGRAM_ID, account=TOKEN_ATA, dest=dest or owner,
                                                     owner=owner))]
    message = MessageV0.try_compile(owner, instructions, [AddressLookupTableAccount(TABLE, POOL)], BLOCKHASH)
    return VersionedTransaction(message, [NullSigner(owner)])


def test_a_close_to_the_trader_on_a_full_exit_is_allowed_and_its_effects_pass():
    request = buy_request(side="sell", amount=3_000_000)
    decoded = decode(full_exit(), {str(TABLE): [str(key) for key in POOL]})
    assert check_message(decoded, request, rent_per_account=RENT) == 0
    closed = closes_to_owner(decoded, request)
    assert closed == {str(TOKEN_ATA)}
    owner = str(OWNER.pubkey())
    held = {str(TOKEN_ATA): TokenHolding(mint=str(MINT), owner=owner, amount=3_000_000, delegate=None,
                                         close_authority=None)}
    after = {owner: Account(10**9 + 50_000_000 + 2_039_280), str(TOKEN_ATA): None}  # sold, and the rent is back
    check_effects(request, holdings=Holdings(sol=10**9, tokens=held), after=after, min_out=50_000_000,
                  account_creations=0, rent_per_account=RENT, closed=closed)
    # Without the message's own close to the trader, an account gone is an account taken.
    with pytest.raises(SwapRefused) as caught:
        check_effects(request, holdings=Holdings(sol=10**9, tokens=held), after=after, min_out=50_000_000,
                      account_creations=0, rent_per_account=RENT)
    assert caught.value.check == "account_taken"


def test_a_close_on_a_full_exit_to_anyone_else_is_still_refused():
    error = refused(full_exit(dest=STRANGER), buy_request(side="sell", amount=3_000_000))
    assert error.check == "close_account"


def test_a_closed_account_still_counts_every_token_it_held_against_the_sale():
    request = buy_request(side="sell", amount=1_000_000)  # a part of the 3,000,000 held, but the account closes
    decoded = decode(full_exit(), {str(TABLE): [str(key) for key in POOL]})
    owner = str(OWNER.pubkey())
    held = {str(TOKEN_ATA): TokenHolding(mint=str(MINT), owner=owner, amount=3_000_000, delegate=None,
                                         close_authority=None)}
    with pytest.raises(SwapRefused) as caught:
        check_effects(request, holdings=Holdings(sol=10**9, tokens=held), after={owner: Account(2 * 10**9),
                                                                                 str(TOKEN_ATA): None},
                      min_out=50_000_000, account_creations=0, rent_per_account=RENT,
                      closed=closes_to_owner(decoded, request))
    assert caught.value.check == "token_out"
