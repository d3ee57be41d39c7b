#!/usr/bin/env python
"""Django's command-line utility, with configuration errors shown as one line instead of a traceback."""

import os
import sys

SERVING_COMMANDS = {"runserver"}  # the web app checks for itself in tradingbot/asgi.py and wsgi.py
BOT_COMMANDS = {"runbot", "checkconfig"}  # `make run` runs checkconfig before it migrates


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings")
    from kernel.config import ConfigError, configuration_problems, describe_missing, get_config

    command = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        get_config()
    except ConfigError:
        config, problems = configuration_problems()  # every invalid value at once, not the first alone
    else:
        config, problems = get_config(), []
    missing = []
    if config is not None and command in SERVING_COMMANDS:
        missing = _missing(config.require_secret_key)
    if config is not None and command in BOT_COMMANDS:
        missing = config.missing_to_run_bot(webhook="--webhook" in sys.argv)
    named = {err.variable for err in problems}
    problems += [err for err in missing if err.variable not in named]  # an invalid value set aside is not "unset"
    if problems:
        sys.stderr.write(describe_missing(problems) + "\n")
        sys.exit(2)

    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError, ProgrammingError

    try:
        execute_from_command_line(sys.argv)
    except (OperationalError, ProgrammingError) as err:
        message = str(err).splitlines()[0]
        if "no such table" in message or "does not exist" in message:
            sys.stderr.write(f"The database is not set up yet ({message}). Run: python manage.py migrate\n")
            sys.exit(2)
        if "could not connect" in message or "unable to open database" in message or "Connection refused" in message:
            sys.stderr.write(f"Cannot reach the database ({message}). Check DATABASE_URL.\n")
            sys.exit(2)
        raise


def _missing(check) -> list:
    from kernel.config import ConfigError

    try:
        check()
    except ConfigError as err:
        return [err]
    return []


if __name__ == "__main__":
    main()
