"""Jupiter's /swap-instructions answer read strictly: a malformed instruction, a non-boolean flag, an impossible
compute-unit limit or a simulation error is the swap API's fault, never a transaction to compose."""

from __future__ import annotations

import base64
import copy

import pytest
from solders.keypair import Keypair

from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import JupiterClient, Quote
from localnet.http import Request, Response, Server

USER = str(Keypair().pubkey())
PROGRAM = str(Keypair().pubkey())
TABLE = str(Keypair().pubkey())
GOOD = {
    "tokenLedgerInstruction": None,
    "computeBudgetInstructions": [],
    "setupInstructions": [],
    "swapInstruction": {"programId": PROGRAM, "accounts": [{"pubkey": USER, "isSigner": True, "isWritable": True}],
                        "data": base64.b64encode(b"route").decode()},
    "cleanupInstruction": None, "otherInstructions": [], "addressLookupTableAddresses": [TABLE],
    "prioritizationFeeLamports": 1000, "computeUnitLimit": 150_000, "simulationError": None,
}
QUOTE = Quote(input_mint="a", output_mint="b", in_amount=1, out_amount=1, min_out_amount=1, slippage_bps=0,
              price_impact_pct=0, raw={})


class Scripted(Server):
    body: dict = GOOD

    def handle(self, request: Request) -> Response:
        return Response.json(self.body)


@pytest.fixture
def venue():
    server = Scripted().start()
    yield server
    server.stop()


async def _ask(venue, body: dict):
    venue.body = body
    client = JupiterClient(venue.url, attempts=1)
    try:
        return await client.swap_instructions(quote=QUOTE, user_public_key=USER, priority_fee_lamports=1000)
    finally:
        await client.close()


async def test_a_good_answer_is_read(venue):
    answer = await _ask(venue, GOOD)
    assert str(answer.swap.program_id) == PROGRAM and bytes(answer.swap.data) == b"route"
    assert answer.swap.accounts[0].is_signer and answer.lookup_tables == (TABLE,)
    assert answer.compute_unit_limit == 150_000 and answer.cleanup is None


def _broken(path: tuple, value) -> dict:
    body = copy.deepcopy(GOOD)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(("path", "value"), [
    (("swapInstruction", "data"), "not base64!"),
    (("swapInstruction", "programId"), "nope"),
    (("swapInstruction", "accounts", 0, "isSigner"), "false"),
    (("computeUnitLimit",), 0),
    (("computeUnitLimit",), 1_400_001),
    (("addressLookupTableAddresses",), ["short"]),
])
async def test_a_malformed_answer_is_the_swap_apis_fault(venue, path, value):
    with pytest.raises(JupiterError) as caught:
        await _ask(venue, _broken(path, value))
    assert caught.value.status == 502


async def test_a_simulation_error_is_refused(venue):
    with pytest.raises(JupiterError) as caught:
        await _ask(venue, {**GOOD, "simulationError": {"errorCode": "X", "error": "boom"}})
    assert caught.value.error_code == "SIMULATION_ERROR"
