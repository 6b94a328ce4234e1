"""``report.md`` writers of the demo and of the reproduction (text around the tables and figures)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from agm.experiments.tables import markdown_table


def _length(summary: dict[str, Any]) -> float:
    return math.inf if summary.get("length") is None else float(summary["length"])


def demo_pair_rows(results: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The demo's per-pair table (header, rows): lengths, angle travelled, distance to the loop, charts."""
    header = [
        "pair (centre)",
        "θ0 → θ1 (deg)",
        "true length",
        "one chart: length",
        "atlas: length",
        "one chart: angle travelled (deg)",
        "atlas: angle travelled (deg)",
        "one chart: dist. to loop",
        "atlas: dist. to loop",
        "one chart: straight line",
        "atlas: charts visited",
    ]
    rows = []
    for i, p in enumerate(results["pairs"]):
        one, atlas = p["one_chart"], p["atlas"]
        seq = atlas.get("chart_sequence")
        rows.append(
            [
                f"{p['centre_deg']:.0f}°" + (" (tear)" if i == 0 else ""),
                f"{p['theta0_deg']:.0f} → {p['theta1_deg']:.0f}",
                p["true_length"],
                _length(one),
                _length(atlas),
                one.get("angle_travelled_deg"),
                atlas.get("angle_travelled_deg"),
                one.get("mean_distance_to_loop"),
                atlas.get("mean_distance_to_loop"),
                p["straight_line_one_chart"],
                "→".join(map(str, seq)) if seq else "unreachable",
            ]
        )
    return header, rows


def _long_way(pairs: list[dict[str, Any]], tag: str) -> int:
    """Pairs whose geodesic travels more than 1.5 times the pair's angle (round the other side of the loop),
    unreachable pairs included."""
    travelled = [p[tag].get("angle_travelled_deg") for p in pairs]
    return sum(1 for t, p in zip(travelled, pairs) if t is None or t > 1.5 * p["angle_deg"])


def _median(values: list[Any]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.median(vals)) if vals else float("nan")


def write_demo_report(path: str | os.PathLike[str], results: dict[str, Any]) -> Path:
    """Write the demo's ``report.md`` from its results dict (see :func:`agm.experiments.demo.run_demo`)."""
    m = results["models"]
    s = results["settings"]
    pairs = results["pairs"]
    p0 = pairs[0]
    one0, atlas0, true0 = _length(p0["one_chart"]), _length(p0["atlas"]), p0["true_length"]
    glyph = results["dataset"] == "glyph-loop"
    lines = [
        "# agm demo: one chart must tear a loop, an atlas does not",
        "",
        f"Data: **{results['dataset']}** "
        + (
            "(an 'F' rotated through 360°, 28×28 images: a closed loop in pixel space)"
            if glyph
            else "(the unit circle in R^2)"
        )
        + f", {s['n_train']} training points, seed {results['seed']}"
        + (" — **quick mode: tiny sizes, the numbers mean nothing**" if results["quick"] else "")
        + ".",
        "",
        f"Both models have a **{s['latent_dim']}-dimensional** latent space per chart. A circle cannot be mapped "
        "continuously and one-to-one into R^1, so the one-chart model (WAE-GAN) must cut the loop somewhere; "
        f"the atlas (AWAE-GAN, {s['charts']} charts) covers it with overlapping charts. "
        f"The one-chart model's encoding jumps most at **θ ≈ {results['tear_deg']:.0f}°**: its tear "
        "(red line in `loop_coverage.png`).",
        "",
        "## Result",
        "",
        f"Geodesics between {len(pairs)} pairs of points {s['gap_deg']:.0f}° apart around the loop, the first pair "
        "centred on the one-chart model's tear. Each geodesic's decodings are located on the loop (nearest exactly "
        "rendered point): the **angle travelled** says whether it follows the short arc "
        f"({s['gap_deg']:.0f}°) or goes round the other side ({360 - s['gap_deg']:.0f}°), the **distance to the "
        "loop** whether its images are real points of the loop or garbage.",
        "",
        f"- Across the tear: one chart travels **{_fmt(p0['one_chart'].get('angle_travelled_deg'))}°** "
        f"(distance to the loop {_fmt(p0['one_chart'].get('mean_distance_to_loop'))}, length {one0:.3g}); "
        f"the atlas **{_fmt(p0['atlas'].get('angle_travelled_deg'))}°** (distance "
        f"{_fmt(p0['atlas'].get('mean_distance_to_loop'))}, length {atlas0:.3g}); true arc length {true0:.3g}.",
        f"- Geodesics that go the long way round (> 1.5 × {s['gap_deg']:.0f}°): one chart "
        f"**{_long_way(pairs, 'one_chart')} / {len(pairs)}**, atlas **{_long_way(pairs, 'atlas')} / {len(pairs)}**.",
        f"- Median distance of the decodings to the loop: one chart "
        f"{_median([p['one_chart'].get('mean_distance_to_loop') for p in pairs]):.3g}, atlas "
        f"{_median([p['atlas'].get('mean_distance_to_loop') for p in pairs]):.3g} (reconstruction errors: "
        f"{m['one_chart']['reconstruction_error']:.3g} and {m['atlas']['reconstruction_error']:.3g}).",
        "",
    ]
    header, rows = demo_pair_rows(results)
    lines += [
        markdown_table(header, rows, digits=3),
        "",
        (
            "Lengths are decoded path lengths (sum of Euclidean distances between consecutive decodings, pixel "
            "values in [0, 1]); the true length is the same sum along the exactly rendered rotation."
            if glyph
            else "Lengths are decoded path lengths in R^2; the true length is the arc length."
        )
        + " A short length is not by itself good: a blurry decoder makes short paths through garbage, which "
        "the distance to the loop shows. The straight line is the decoded straight latent segment of the "
        "one-chart model.",
        "",
        "![angle travelled](angles.png)",
        "",
        "![lengths](lengths.png)",
        "",
        "## Geodesic interpolations",
        "",
        "Top: the pair across the tear; bottom: the pair opposite it. Under each step its chart; "
        "'a/b' marks a step on a chart transition.",
        "",
        "![strips](strips.png)",
        "",
        "## How the models cover the loop",
        "",
        "![loop coverage](loop_coverage.png)",
        "",
        "## Models",
        "",
    ]
    mrows = []
    for d in m.values():
        g = d["graph"]
        mrows.append(
            [
                d["label"],
                d["n_charts"],
                d["latent_dim"],
                d["reconstruction_error"],
                " ".join(map(str, d["chart_usage"])),
                g["n_nodes"],
                g["n_edges"],
                g["n_components"],
                g["diameter_hops"],
                f"{d['run']} ({d['epochs']} epochs)",
            ]
        )
    lines += [
        markdown_table(
            [
                "model",
                "charts",
                "d",
                "recon. error (test)",
                "test points per chart",
                "graph nodes",
                "edges",
                "components",
                "diameter (hops)",
                "training",
            ],
            mrows,
            digits=3,
        ),
        "",
    ]
    lines += [
        "Samples z ~ N(0, I) decoded in each chart (rows):",
        "",
        "![one chart](samples_one_chart.png)",
        "",
        "![atlas](samples_atlas.png)",
        "",
        f"Graphs: {s['graph_points']} training points, k = {s['k']}, eps = {s['eps']}, {s['n_steps']} steps per edge.",
        "",
        "## Timings (seconds)",
        "",
        markdown_table(["stage", "seconds"], [[k, v] for k, v in results["timings_s"].items()], digits=3),
    ]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path


def _fmt(value: float | None) -> str:
    return "n/a (unreachable)" if value is None else f"{value:.3g}"
