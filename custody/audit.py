"""Append a security-relevant event to the audit log: who, when, what, from where.

Details are small, plain values (addresses, amounts in lamports, setting names); never a key, a seed, a TOTP
secret or a code. Writing the event must never stop the action it records: a failure is logged loudly instead.
"""

from __future__ import annotations

import getpass
import logging
import socket

from custody.models import AuditEvent
from kernel.clientip import client_ip
from wallets.models import UserWallet

logger = logging.getLogger(__name__)
Action = AuditEvent.Action

TELEGRAM = "telegram"
BOT = "bot"


def record(action: str, *, actor: str, source: str, user: UserWallet | int | None = None, **detail) -> None:
    """Append one event. ``user`` is the wallet concerned (a wallet or its primary key)."""
    user_id = user.pk if isinstance(user, UserWallet) else user
    try:
        AuditEvent.objects.create(action=action, actor=_plain(actor)[:150], source=_plain(source)[:100],
                                  user_id=user_id,
                                  detail={key: _plain(value) for key, value in detail.items()})
    except Exception:
        logger.exception("Could not write the audit event %s by %s", action, actor)


def record_outside_private_chat(*, telegram_user_id: int | None, username: str, chat_id: int, chat_type: str,
                                used: str) -> None:
    """A command or button used outside a private chat with its own user (a group, a channel): refused, recorded.
    ``used`` is the command's name or the button's kind, never its arguments."""
    wallet = (UserWallet.objects.filter(telegram_user_id=telegram_user_id).values_list("pk", flat=True).first()
              if telegram_user_id is not None else None)
    actor = trader(telegram_user_id, username) if telegram_user_id is not None else f"{chat_type} {chat_id}"
    record(Action.REFUSED_OUTSIDE_PRIVATE_CHAT, actor=actor, source=TELEGRAM, user=wallet, chat_id=chat_id,
           chat_type=chat_type, used=used)


def trader(telegram_user_id: int, username: str = "") -> str:
    return f"user {telegram_user_id}" + (f" (@{username})" if username else "")


def staff(request) -> str:
    user = getattr(request, "user", None)
    name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    return f"staff {name}"


def operator() -> str:
    try:
        who = getpass.getuser()
    except Exception:
        who = "unknown"
    return f"operator {who}@{socket.gethostname()}"


def request_source(request) -> str:
    if request is None:
        return "admin"
    return f"admin {client_ip(request) or '?'}"


def _plain(value):
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "")  # what a user typed may hold NUL, which PostgreSQL cannot store
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value).replace("\x00", "")
