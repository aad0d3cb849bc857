"""A `csv` source: an HR system's export, one person per row, read by column names."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..config.models import check_email
from ..config.source_models import CsvSource
from ..defaults import MAX_FILE_BYTES
from ..errors import ReconcilerError
from ..model.sources import SourcedEntry
from ..safe_files import read_bytes
from .base import MemberSource, SourceAnswer, SourceError


class CsvExportSource(MemberSource):
    def __init__(self, source: CsvSource, config_path: Path) -> None:
        self.source = source
        path = Path(source.csv.path)
        self.path = path if path.is_absolute() else config_path.resolve().parent / path

    def describe(self) -> str:
        return self.source.describe()

    def read(self) -> SourceAnswer:
        spec, name = self.source.csv, self.describe()
        try:
            raw = read_bytes(self.path, what="CSV export", max_bytes=MAX_FILE_BYTES)
            text = raw.decode("utf-8-sig")  # Excel's exports start with a byte order mark
        except ReconcilerError as exc:
            raise SourceError(name, str(exc)) from None
        except UnicodeDecodeError:
            raise SourceError(name, "the export is not UTF-8 text") from None
        try:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            columns = set(rows[0]) if rows else set()
        except csv.Error as exc:
            raise SourceError(name, f"not a CSV file ({exc})") from None
        missing = sorted(({spec.email} | set(spec.where)) - columns) if rows else []
        if missing:
            raise SourceError(name, f"no column {', '.join(map(repr, missing))} in the export")
        entries, skipped = [], []
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            if any(row.get(column) != value for column, value in spec.where.items()):
                continue
            email = (row.get(spec.email) or "").strip()
            try:
                check_email(email)
            except ValueError:
                skipped.append(f"line {number}: no valid email in column {spec.email!r}")
                continue
            entries.append(SourcedEntry("email", email, self.source.role, f"line {number}"))
        return SourceAnswer(entries, skipped)
