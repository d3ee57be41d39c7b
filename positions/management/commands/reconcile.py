"""python manage.py reconcile [--skip-audit]: settle pending trades, then compare every wallet with the chain."""

import asyncio

from django.core.management.base import BaseCommand, CommandError

from kernel.chain.errors import ChainError
from kernel.chain.jito import BlockEngineClient
from kernel.chain.rpc import RpcGateway
from kernel.config import get_config
from positions.reconcile import audit_wallets, reconcile_pending


class Command(BaseCommand):
    help = "Settle pending trades from the chain, then report any wallet whose balances the ledger does not explain."

    def add_arguments(self, parser):
        parser.add_argument("--skip-audit", action="store_true", help="Only settle pending trades.")

    def handle(self, *args, skip_audit=False, **options):
        try:
            report, differences = asyncio.run(self._run(skip_audit))
        except ChainError as err:
            raise CommandError(f"Solana RPC at {get_config().solana_rpc_url} is not answering: {err}") from None
        self.stdout.write(f"Pending trades: {report.confirmed} confirmed, {report.failed} failed, "
                          f"{report.expired} expired unlanded, {report.still_pending} still pending.")
        if skip_audit:
            return
        for difference in differences:
            for problem in difference.problems:
                self.stdout.write(f"DIFFERENCE wallet {difference.public_key}: {problem}")
        if differences:
            raise CommandError(f"{len(differences)} wallet(s) differ from the ledger (listed above).")
        self.stdout.write("Every wallet matches the ledger.")

    async def _run(self, skip_audit: bool):
        config = get_config()
        rpc = RpcGateway(config.solana_rpc_url, fallback_urls=config.solana_fallback_urls)
        try:
            report = await reconcile_pending(rpc, tip_accounts=await _tip_accounts(config))
            differences = [] if skip_audit else await audit_wallets(rpc)
            return report, differences
        finally:
            await rpc.close(quiet=True)  # a one-shot command: its report is the output, nothing else


async def _tip_accounts(config) -> tuple[str, ...]:
    """The configured tip accounts and the block engine's, so protected trades settled here record their tip."""
    if not config.jito_block_engine_url:
        return config.swap_tip_accounts
    block_engine = BlockEngineClient(config.jito_block_engine_url)
    try:
        return (*config.swap_tip_accounts, *await block_engine.tip_accounts())
    except ChainError:
        return config.swap_tip_accounts  # the SOL change is exact either way; only the tip column stays 0
    finally:
        await block_engine.close()
