"""Cell values as the Sheets API stores them, and how input is parsed and output rendered.

A cell holds one ``ExtendedValue`` (``{"stringValue": ...}``, ``{"numberValue": ...}``,
``{"boolValue": ...}`` or ``{"formulaValue": ...}``), exactly what ``userEnteredValue`` reports.
The difference that matters for safety is modelled faithfully: ``valueInputOption=RAW`` and an
explicit ``stringValue`` store text verbatim, while ``USER_ENTERED`` parses what a person typing
would get, so ``=HYPERLINK(...)`` becomes a formula. Formulas are stored but never evaluated; their
rendered value is ``#ERROR!`` so a test reading values back can tell a formula from text.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from sync_platform.sheets_emulator.errors import SheetsApiError

Cell = dict[str, Any]
"""One ``ExtendedValue``; treated as immutable once stored."""

MAX_CELL_CHARACTERS = 50_000
ValueInputOption = Literal["RAW", "USER_ENTERED"]
RenderOption = Literal["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_EXTENDED_KINDS = ("stringValue", "numberValue", "boolValue", "formulaValue", "errorValue")
UNEVALUATED_FORMULA = "#ERROR!"


def _check_length(text: str) -> str:
    if len(text) > MAX_CELL_CHARACTERS:
        raise SheetsApiError(
            400,
            f"Your input contains more than the maximum of {MAX_CELL_CHARACTERS} characters "
            "in a single cell.",
        )
    return text


def parse_input(value: Any, option: ValueInputOption) -> Cell | None:
    """A value from the values API (``values: [[...]]``) as it would be stored; ``None`` clears."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int | float):
        return {"numberValue": value}
    if not isinstance(value, str):
        raise SheetsApiError(400, f"Invalid value at 'data.values' ({type(value).__name__}).")
    text = _check_length(value)
    if text == "":
        return None
    if option == "RAW":
        return {"stringValue": text}
    return _parse_user_entered(text)


def _parse_user_entered(text: str) -> Cell:
    """What Sheets makes of ``text`` typed into a cell: a leading quote forces text."""
    if text.startswith("'"):
        return {"stringValue": text[1:]}
    if text.startswith("="):
        return {"formulaValue": text}
    if _NUMBER.match(text):
        number = float(text)
        return {"numberValue": int(number) if number.is_integer() and "." not in text else number}
    if text.upper() in ("TRUE", "FALSE"):
        return {"boolValue": text.upper() == "TRUE"}
    if text[0] in "+-" and len(text) > 1:
        return {"formulaValue": "=" + text}  # Sheets turns "+A1" / "-cmd|..." into a formula
    return {"stringValue": text}


def parse_extended(value: Any, where: str) -> Cell | None:
    """A ``userEnteredValue`` from ``updateCells``/``appendCells``: stored as given, never parsed."""
    if value is None:
        return None
    if type(value) is not dict or len(value) != 1:
        raise SheetsApiError(400, f"Invalid value at '{where}': expected exactly one ExtendedValue kind.")
    text = value.get("stringValue")
    if type(text) is str and len(text) <= MAX_CELL_CHARACTERS:
        return value  # the common case, checked first; the dict is stored as is (never mutated)
    kind = next(iter(value))
    if kind not in _EXTENDED_KINDS:
        raise SheetsApiError(400, f"Invalid value at '{where}': unknown ExtendedValue kind {kind!r}.")
    inner = value[kind]
    if kind in ("stringValue", "formulaValue"):
        if not isinstance(inner, str):
            raise SheetsApiError(400, f"Invalid value at '{where}.{kind}': expected a string.")
        _check_length(inner)
    elif kind == "numberValue" and (
        isinstance(inner, bool) or not isinstance(inner, int | float) or not math.isfinite(inner)
    ):
        raise SheetsApiError(400, f"Invalid value at '{where}.numberValue': expected a finite number.")
    elif kind == "boolValue" and not isinstance(inner, bool):
        raise SheetsApiError(400, f"Invalid value at '{where}.boolValue': expected true or false.")
    return value


def _format_number(number: int | float) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return str(number)


def render(cell: Cell | None, option: RenderOption) -> Any:
    """The value ``values.get`` returns for ``cell`` under ``valueRenderOption``."""
    if cell is None:
        return ""
    kind, value = next(iter(cell.items()))
    if kind == "formulaValue":
        return value if option == "FORMULA" else UNEVALUATED_FORMULA
    if kind == "errorValue":
        return "#ERROR!"
    if option == "FORMATTED_VALUE":
        if kind == "boolValue":
            return "TRUE" if value else "FALSE"
        if kind == "numberValue":
            return _format_number(value)
    return value


def effective(cell: Cell) -> Cell:
    """``effectiveValue`` for grid data: a formula's is an error, since formulas are not evaluated."""
    if "formulaValue" in cell:
        return {"errorValue": {"type": "ERROR", "message": "The Sheets emulator does not evaluate formulas."}}
    return cell
