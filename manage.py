#!/usr/bin/env python
"""Django's command-line utility, with configuration errors shown as one line instead of a traceback."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings")
    from tradingbot.config import ConfigError, get_config

    try:
        get_config()
    except ConfigError as err:
        sys.stderr.write(f"Configuration error: {err}\n")
        sys.exit(2)

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
