from __future__ import annotations

import time
from dataclasses import asdict

from telegram import Update
from telegram.ext import ContextTypes

from custody import killswitch
from kernel.db import db_call
from kernel.metrics import RPC_REQUESTS, STARTED_AT
from positions.stats import bot_counts
from telegrambot import texts
from telegrambot.handlers.common import deps, guarded, reply


@guarded
async def metrics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_user.id not in deps(context).config.admin_telegram_ids:
        await reply(update, texts.ADMIN_ONLY)
        return
    counts = await db_call(bot_counts)()
    switches = await db_call(killswitch.summary)()
    rpc_total = int(sum(sample.value for metric in RPC_REQUESTS.collect() for sample in metric.samples
                        if sample.name.endswith("_total")))
    await reply(update, texts.metrics(uptime_seconds=time.time() - STARTED_AT, rpc_requests=rpc_total,
                                      switches=switches, **asdict(counts)))
