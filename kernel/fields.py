"""A model field for u64 raw token amounts (0 … 18446744073709551615).

Neither backend has an unsigned 64-bit integer: PostgreSQL's bigint and SQLite's INTEGER stop at 2**63 - 1, and
SQLite turns larger numbers into lossy REALs even in a NUMERIC column. So the value is stored as
``numeric(20, 0)`` on PostgreSQL and as 20-digit zero-padded text on SQLite, where text order equals numeric
order, so filters and check constraints (``>= 0``, ``<=`` another u64 column) still compare correctly. Arithmetic
belongs in Python on locked rows, never in ``F()`` expressions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core import checks, exceptions
from django.db import models

from kernel.money import U64_MAX

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

_WIDTH = len(str(U64_MAX))


class U64Field(models.Field):
    description = "Unsigned 64-bit integer (raw token units)"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        if connection.vendor == "postgresql":
            return "numeric(20, 0)"
        return "varchar(20)"

    def get_internal_type(self) -> str:
        return "U64Field"

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_default()]

    def _check_default(self) -> list[checks.CheckMessage]:
        if self.has_default() and not callable(self.default) and not _is_u64(self.default):
            return [checks.Error("U64Field default must be an int in 0..2**64-1", obj=self)]
        return []

    def to_python(self, value: object) -> int | None:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        try:
            number = int(Decimal(str(value)))
        except (ArithmeticError, ValueError):
            raise exceptions.ValidationError(f"{value!r} is not a whole number", code="invalid") from None
        return number

    def get_prep_value(self, value: object) -> Any:
        value = super().get_prep_value(value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if not _is_u64(value):
            raise ValueError(f"{self.name}: {value!r} is not an unsigned 64-bit integer")
        return value

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if connection.vendor == "postgresql":
            return Decimal(value)
        return str(value).zfill(_WIDTH)

    def from_db_value(self, value: str | Decimal | int | None, expression: object,
                      connection: BaseDatabaseWrapper) -> int | None:
        if value is None:
            return None
        return int(value)

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return forms.IntegerField(min_value=0, max_value=U64_MAX, **kwargs)


def _is_u64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX


def u64_range_constraints(table: str, *names: str) -> list[models.CheckConstraint]:
    """Database-level guarantee that each u64 column holds 0 … 2**64 - 1 (numeric(20,0) alone admits more)."""
    return [
        models.CheckConstraint(condition=models.Q(**{f"{name}__gte": 0, f"{name}__lte": U64_MAX}),
                               name=f"{table}_{name}_u64")
        for name in names
    ]
