"""The streaming XLSX writer on its own: typed cells, escapes, and a valid archive."""

from __future__ import annotations

import io

import openpyxl
import pytest

from screen.platform.xlsx import Kind, SheetWriter, column_letters
from tests.support.xlsx import parse_xlsx


def workbook(rows: list[list[str | None]], kinds: list[Kind], *, large: bool = False) -> bytes:
    sheet = SheetWriter([f"c{index}" for index in range(len(kinds))], kinds, large=large)
    parts = []
    for row in rows:
        sheet.write_rows([row])
        parts.append(sheet.take())
    parts.append(sheet.close())
    return b"".join(parts)


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (701, "ZZ")]
)
def test_column_letters(index: int, letters: str) -> None:
    assert column_letters(index) == letters


@pytest.mark.parametrize("large", [False, True])
def test_text_that_xml_cannot_carry_reads_back_as_written(large: bool) -> None:
    awkward = ["a\x01b", "line\r\nbreak", "_x0041_ literal", " padded ", "<&>\"'", "\ufffe", "ok"]
    body = workbook([[value] for value in awkward], [Kind.TEXT], large=large)

    rows, sheet_xml = parse_xlsx(body)

    assert [row[0] for row in rows[1:]] == awkward
    assert "\x01" not in sheet_xml and "\r" not in sheet_xml


def test_cells_are_typed_by_their_column_and_empty_cells_are_absent() -> None:
    kinds = [Kind.NUMBER, Kind.BOOL, Kind.TEXT, Kind.NUMBER]
    body = workbook([["12.5", "true", "=1+1", None], ["-3", "false", "", "1e-05"]], kinds)

    sheet = openpyxl.load_workbook(io.BytesIO(body))["Results"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]

    assert rows[1] == [12.5, True, "=1+1", None]
    assert rows[2] == [-3, False, None, 1e-05]
    assert sheet["C2"].data_type == "s"  # a formula-looking string is a string


def test_a_sheet_needs_one_kind_per_column() -> None:
    with pytest.raises(ValueError, match="one kind per column"):
        SheetWriter(["a", "b"], [Kind.TEXT])
