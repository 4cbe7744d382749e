"""docs/data-contract.md lists every header the importers accept (the code is the contract; the page must follow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.csvio import RECORD_COLUMNS, REGISTRY_COLUMNS, SPLIT_FIELDS

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "data-contract.md").read_text(encoding="utf-8")
COLUMNS = {c for c in (*REGISTRY_COLUMNS, *RECORD_COLUMNS, *(p for s in SPLIT_FIELDS for p in s.parts))}


@pytest.mark.parametrize("column", sorted(COLUMNS, key=lambda c: c.field), ids=lambda c: c.field)
def test_every_column_the_importers_read_is_documented(column):
    assert column.field in PAGE and column.japanese in PAGE
