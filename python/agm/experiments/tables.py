"""Tables of the experiments as Markdown and CSV (numbers formatted once, here)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Cell = Any


def format_cell(value: Cell, digits: int = 4) -> str:
    """Human-readable text of one cell.

    Ints get thousands separators, floats ``digits`` significant digits (``inf``/``nan`` spelt out), None becomes
    an em dash and anything else its ``str``.

    Args:
        value: the cell.
        digits: significant digits of floats (>= 1).
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def _check(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    if not header:
        raise ValueError("header must hold at least one column name; got none")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"rows[{i}] must hold {len(header)} cells (one per column); got {len(row)}")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table; numeric columns are right-aligned.

    Args:
        header: column names (C,).
        rows: R rows of C cells each.
        digits: significant digits of floats.

    Returns:
        The table as text, one line per row, ending with a newline.

    Raises:
        ValueError: empty header or a row with the wrong number of cells.
    """
    _check(header, rows)
    numeric = [
        bool(rows) and all(isinstance(r[c], (int, float)) or r[c] is None for r in rows) for c in range(len(header))
    ]
    lines = ["| " + " | ".join(str(h) for h in header) + " |"]
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    for row in rows:
        lines.append("| " + " | ".join(format_cell(v, digits).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: str | os.PathLike[str], header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> Path:
    """Write a CSV file with full-precision numbers (floats via ``repr``, None as an empty cell).

    Args:
        path: destination file (folder created).
        header: column names (C,).
        rows: R rows of C cells each.

    Returns:
        The path written.

    Raises:
        ValueError: empty header or a row with the wrong number of cells.
    """
    _check(header, rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return path
