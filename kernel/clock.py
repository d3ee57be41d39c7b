"""The time, as a dependency: services take a ``Clock`` so tests can move time instead of sleeping."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


class Clock:
    def now(self) -> datetime:
        return timezone.now()


SYSTEM_CLOCK = Clock()
