"""The paper's published Table 1 (Stolberg-Larsen & Sommer 2022), transcribed once, and a parser of its Markdown
copy (``shared/paper/table1.md``) that the tests use to check the transcription.

Reconstruction errors are the paper's unit: per-pixel mean squared error (pixels in [0, 1]). Edges are published
rounded to 0.1k (26.6k): :attr:`PaperRow.edges` holds that rounded value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Data sets of the paper's Table 1, in the published order (MNIST / FashionMNIST).
PAPER_DATASETS = ("mnist", "fashion-mnist")
#: Chart counts of Table 1 (1: the WAE-GAN).
PAPER_CHARTS = (1, 2, 4, 8, 16)
#: Graph points of the paper's graphs (each graph encodes this many data points).
PAPER_GRAPH_POINTS = 2000


@dataclass(frozen=True)
class PaperRow:
    """One column of the paper's Table 1 for one data set.

    Attributes:
        charts: m.  latent_dim: continuous dimension.  parameters: trainable parameters (encoders, psi, decoders).
        reconstruction_error: per-pixel mean squared error.  nodes, edges (rounded to 100), diameter (hops): of
        the graph on :data:`PAPER_GRAPH_POINTS` points.
    """

    charts: int
    latent_dim: int
    parameters: int
    reconstruction_error: float
    nodes: int
    edges: int
    diameter: int


def _rows(
    recon: tuple[float, ...], nodes: tuple[int, ...], edges: tuple[int, ...], diam: tuple[int, ...]
) -> dict[int, PaperRow]:
    params = (21_967_881, 21_626_265, 20_885_793, 21_961_217, 21_623_721)
    return {
        m: PaperRow(m, 8 if m == 1 else 7, params[i], recon[i], nodes[i], edges[i], diam[i])
        for i, m in enumerate(PAPER_CHARTS)
    }


#: dataset -> charts -> the paper's values (Table 1, as published).
PAPER_TABLE1: dict[str, dict[int, PaperRow]] = {
    "mnist": _rows(
        (0.0142, 0.0134, 0.0129, 0.0126, 0.0129),
        (2000, 2020, 2175, 2546, 2887),
        (26_600, 27_000, 29_600, 34_700, 39_800),
        (6, 8, 8, 8, 8),
    ),
    "fashion-mnist": _rows(
        (0.0144, 0.0133, 0.0141, 0.0148, 0.0162),
        (2000, 2069, 2576, 2677, 3922),
        (26_400, 26_900, 33_400, 35_000, 52_200),
        (6, 8, 9, 9, 9),
    ),
}

_ROW_NAMES = {
    "No. charts": "charts",
    "Continuous dimension": "latent_dim",
    "Trainable parameters": "parameters",
    "Reconstruction error": "reconstruction_error",
    "Graph nodes": "nodes",
    "Graph edges": "edges",
    "Graph diameter": "diameter",
}


def _number(text: str) -> float:
    text = text.strip().replace(",", "")
    if text.endswith("k"):
        return round(float(text[:-1]) * 1000)
    return float(text)


def parse_table1_markdown(text: str) -> dict[str, dict[int, PaperRow]]:
    """Parse the Markdown table of ``shared/paper/table1.md`` (cells "a / b": MNIST / FashionMNIST; one value:
    both).

    Args:
        text: the file's text.

    Returns:
        The same layout as :data:`PAPER_TABLE1`.

    Raises:
        ValueError: a row of Table 1 is missing or a row has the wrong number of cells.
    """
    cells: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        if parts and parts[0] in _ROW_NAMES:
            cells[_ROW_NAMES[parts[0]]] = parts[1:]
    missing = sorted(set(_ROW_NAMES.values()) - set(cells))
    if missing:
        raise ValueError(f"text: Table 1 rows {missing} not found")
    out: dict[str, dict[int, PaperRow]] = {d: {} for d in PAPER_DATASETS}
    n = len(cells["charts"])
    for name, row in cells.items():
        if len(row) != n:
            raise ValueError(f"text: row {name!r} has {len(row)} cells, expected {n}")
    for i in range(n):
        values: dict[str, list[float]] = {}
        for name, row in cells.items():
            split = [_number(v) for v in re.split(r"\s*/\s*", row[i])]
            values[name] = split * 2 if len(split) == 1 else split
        for j, dataset in enumerate(PAPER_DATASETS):
            v = {name: values[name][j] for name in values}
            m = int(v["charts"])
            out[dataset][m] = PaperRow(
                m,
                int(v["latent_dim"]),
                int(v["parameters"]),
                float(v["reconstruction_error"]),
                int(v["nodes"]),
                int(v["edges"]),
                int(v["diameter"]),
            )
    return out


def paper_row(dataset: str, charts: int) -> PaperRow | None:
    """The paper's values for (dataset, chart count), or None when Table 1 has no such column."""
    return PAPER_TABLE1.get(dataset, {}).get(charts)


def paper_node_target(dataset: str, charts: int, points: int) -> float | None:
    """The paper's node count for this model scaled to a graph on ``points`` points (None: not in Table 1)."""
    row = paper_row(dataset, charts)
    return None if row is None else row.nodes * points / PAPER_GRAPH_POINTS
