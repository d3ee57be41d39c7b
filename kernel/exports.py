"""CSV downloads for the admin: named columns only, so a model field (a secret) can never slip into an export."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from django.http import HttpResponse


def csv_response(filename: str, columns: Sequence[str], rows: Iterable) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([getattr(row, name) for name in columns])
    return response
