"""Reading an XLSX file back with the standard library only, so the tests of the export
and of the streaming writer do not trust the writer they check."""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

from screen.pipeline.exports import Cell

_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
# How Excel stores control characters in cell text (ECMA-376 ST_Xstring): CR is _x000D_.
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _text(element: ElementTree.Element) -> str:
    raw = "".join(t.text or "" for t in element.iter(f"{{{_NS['m']}}}t"))
    return _EXCEL_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), raw)


def parse_xlsx(body: bytes) -> tuple[list[list[Cell]], str]:
    """The first sheet's rows as typed values, read with the standard library only."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
        names = archive.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            # Our own export under test, not input from outside.
            strings = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))  # noqa: S314
            shared = [_text(si) for si in strings.findall("m:si", _NS)]
    rows: list[list[Cell]] = []
    sheet = ElementTree.fromstring(sheet_xml)  # noqa: S314 - our own export, as above
    for row in sheet.iter(f"{{{_NS['m']}}}row"):
        values: list[Cell] = []
        for cell in row.findall("m:c", _NS):
            match = _CELL_REF.fullmatch(cell.attrib["r"])
            assert match
            column = _column_index(match.group(1))
            values.extend([None] * (column - len(values)))
            kind = cell.attrib.get("t", "n")
            value: Cell
            if kind == "inlineStr":
                value = _text(cell)
            elif kind == "s":
                value = shared[int(cell.findtext("m:v", namespaces=_NS) or "0")]
            elif kind == "b":
                value = cell.findtext("m:v", namespaces=_NS) == "1"
            else:
                value = float(cell.findtext("m:v", namespaces=_NS) or "nan")
            values.append(value)
        rows.append(values)
    return rows, sheet_xml
