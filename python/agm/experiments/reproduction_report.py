"""Table 1 (Markdown + CSV) and ``report.md`` of the reproduction."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agm.experiments.tables import markdown_table, write_csv

#: The paper's Table 1, where this project knows the value (None: not known here, fill in from the paper).
#: The WAE-GAN's parameter count is the one quoted in :mod:`agm.models.backbones` from the paper's Table 1.
PAPER_TABLE1: dict[str, dict[int, dict[str, float | int | None]]] = {
    "mnist": {
        1: {"parameters": 21_967_881, "reconstruction_error": None, "nodes": None, "edges": None, "diameter": None},
        **{
            m: {"parameters": None, "reconstruction_error": None, "nodes": None, "edges": None, "diameter": None}
            for m in (2, 4, 8, 16)
        },
    },
}

TABLE1_HEADER = [
    "charts",
    "model",
    "continuous dim",
    "parameters (enc+dec)",
    "recon. error",
    "graph nodes",
    "graph edges",
    "diameter (hops)",
    "components",
    "geodesic length (median)",
    "geodesic length (mean)",
    "unreachable pairs",
    "straight line (median)",
    "paper: parameters",
    "paper: recon. error",
    "paper: nodes",
    "paper: edges",
    "paper: diameter",
]


def _median(values: list[float | None] | None) -> float | None:
    vals = sorted(v for v in (values or []) if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else 0.5 * (vals[mid - 1] + vals[mid])


def table1_rows(results: dict[str, Any]) -> list[list[Any]]:
    """Table 1 rows (one per chart count) in the order of :data:`TABLE1_HEADER`."""
    paper = PAPER_TABLE1.get(results["settings"]["dataset"], {})
    rows = []
    for r in results["models"]:
        g, q = r["graph"], r["geodesics"]
        p = paper.get(r["charts"], {})
        rows.append(
            [
                r["charts"],
                "WAE-GAN" if r["charts"] == 1 else "AWAE-GAN",
                r["latent_dim"],
                r["parameters"],
                r["reconstruction_error"],
                g["n_nodes"],
                g["n_edges"],
                g["diameter_hops"],
                g["n_components"],
                q["median"],
                q["mean"],
                q["n_unreachable"],
                _median(r["straight_line"]),
                p.get("parameters"),
                p.get("reconstruction_error"),
                p.get("nodes"),
                p.get("edges"),
                p.get("diameter"),
            ]
        )
    return rows


def write_table1(out: str | os.PathLike[str], results: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``table1.md`` and ``table1.csv`` into ``out``."""
    out = Path(out)
    rows = table1_rows(results)
    md = out / "table1.md"
    md.write_text(markdown_table(TABLE1_HEADER, rows) + "\n" + _TABLE1_NOTE)
    return md, write_csv(out / "table1.csv", TABLE1_HEADER, rows)


_TABLE1_NOTE = (
    "Reconstruction error: mean over the test points of the squared error (summed over pixels) through the most "
    "likely chart (agm.evaluation). Parameters: encoders + psi + decoders (discriminators excluded). Graph: Algorithm "
    "1 on the encoded training points; diameter in hops within the largest component. Geodesic lengths: decoded "
    "path lengths of the random test pairs; straight line: the one-chart model's decoded straight latent segment "
    "between the same encodings. Columns 'paper: ...' hold the paper's Table 1 values where this project knows them; "
    "— means not filled in (not an observed value).\n"
)


def write_reproduce_report(path: str | os.PathLike[str], results: dict[str, Any]) -> Path:
    """Write ``report.md`` tying Table 1, Figs. 2-3 and the timings together."""
    s = results["settings"]
    lines = [
        f"# Reproduction: atlas generative models on {s['dataset']}",
        "",
        f"Preset **{s['preset']}**, charts {', '.join(map(str, s['charts']))}, seed {s['seed']}; "
        f"{results['n_train']} training points, {results['n_test']} test points; graphs on {s['points']} encoded "
        f"training points (k = {s['k']}, eps = {s['eps']}, {s['n_steps']} steps per edge); {s['pairs']} random test "
        "pairs.",
        "",
        "## Table 1",
        "",
        markdown_table(TABLE1_HEADER, table1_rows(results)),
        _TABLE1_NOTE,
        "## Geodesic lengths (Fig. 3a)",
        "",
        "Beside every model's geodesics, the one-chart model's straight latent line between the same encodings "
        "(decoded with many steps). A ratio geodesic / straight line below 1 means the graph geodesic is shorter; "
        "above 1, the discrete graph path (a polyline through encoded training points, which stays near the data) "
        "is longer than the straight line (which may cross regions without data).",
        "",
    ]
    gain = []
    for r in results["models"]:
        if r["straight_line"] is not None:
            pairs = [
                (g, s)
                for g, s in zip(r["geodesics"]["lengths"], r["straight_line"])
                if g is not None and s is not None and s > 0
            ]
            if pairs:
                ratios = sorted(g / s for g, s in pairs)
                gain.append(
                    f"WAE-GAN: geodesic / straight line, median over {len(pairs)} pairs: "
                    f"**{ratios[len(ratios) // 2]:.3f}** (range {ratios[0]:.3f} – {ratios[-1]:.3f})."
                )
    lines += gain + [
        "",
        "![Fig. 3a](figures/fig3a_lengths.png)",
        "",
        "## Interpolations (Fig. 3b)",
        "",
        "The same test pairs for the WAE-GAN and the multi-chart model; under each step its chart, "
        "'a/b' on a chart transition.",
        "",
        "![Fig. 3b](figures/fig3b_interpolations.png)",
        "",
        "## Per model (Fig. 2)",
        "",
    ]
    for r in results["models"]:
        m = r["charts"]
        t = r["training"]
        lines += [
            f"### {m} chart{'s' if m > 1 else ''} ({'WAE-GAN' if m == 1 else 'AWAE-GAN'})",
            "",
            f"Training: {t['status']} ({t['epochs']} epochs, {t['seconds']:.0f} s in this run); mean confidence "
            f"max psi: {r['mean_confidence']:.3f}; test points per chart: {' '.join(map(str, r['chart_usage']))}; "
            f"graph {r['graph']['status']}; geodesics {r['geodesics']['status']}, mean chart changes per path "
            f"{r['geodesics']['mean_chart_changes']:.2f}.",
            "",
            f"![Fig. 2a m={m}](figures/fig2a_samples_m{m:02d}.png) "
            f"![Fig. 2b m={m}](figures/fig2b_confidence_m{m:02d}.png)",
            "",
        ]
    trows = []
    stages = ("train", "evaluate", "graph", "geodesics", "strips")
    for r in results["models"]:
        t, c = r["timings_s"], r.get("cpu_s", {})
        trows.append(
            [r["charts"]]
            + [f"{t[k]:.1f} / {c.get(k, float('nan')):.1f}" if k in t else None for k in stages]
            + [sum(t.values())]
        )
    lines += [
        "## Timings (wall / process CPU seconds, this run; loaded stages cost only their loading)",
        "",
        "With one torch thread the CPU time is what the stage costs on an otherwise idle core.",
        "",
        markdown_table(["charts", *stages, "wall total"], trows, digits=3),
        f"Data loading {results['timings_s']['data']:.1f} s, figures {results['timings_s']['figures']:.1f} s, "
        f"**total {results['timings_s']['total']:.0f} s**.",
        "",
    ]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path
