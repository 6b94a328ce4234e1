"""The demo's ``report.md``, written from its typed result (:class:`~agm.experiments.demo.results.DemoResult`)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from agm.experiments.demo.results import DemoResult, PairResult, PathResult
from agm.experiments.tables import markdown_table


def _length(path: PathResult) -> float:
    return math.inf if path.length is None else path.length


def demo_pair_rows(result: DemoResult) -> tuple[list[str], list[list[Any]]]:
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
    for i, p in enumerate(result.pairs):
        one, atlas = p.one_chart, p.atlas
        rows.append(
            [
                f"{p.centre_deg:.0f}°" + (" (tear)" if i == 0 else ""),
                f"{p.theta0_deg:.0f} → {p.theta1_deg:.0f}",
                p.true_length,
                _length(one),
                _length(atlas),
                one.angle_travelled_deg,
                atlas.angle_travelled_deg,
                one.mean_distance_to_loop,
                atlas.mean_distance_to_loop,
                p.straight_line_one_chart,
                "→".join(map(str, atlas.chart_sequence)) if atlas.chart_sequence else "unreachable",
            ]
        )
    return header, rows


def long_way_round(pairs: list[PairResult], tag: str) -> int:
    """Pairs whose geodesic (``tag``: "one_chart" or "atlas") travels more than 1.5 times the pair's angle (round
    the other side of the loop), unreachable pairs included."""
    count = 0
    for p in pairs:
        travelled = getattr(p, tag).angle_travelled_deg
        count += travelled is None or travelled > 1.5 * p.angle_deg
    return count


def _median(values: list[float | None]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(vals)) if vals else float("nan")


def _fmt(value: float | None) -> str:
    return "n/a (unreachable)" if value is None else f"{value:.3g}"


def _intro(r: DemoResult) -> list[str]:
    s, glyph = r.settings, r.dataset == "glyph-loop"
    data = (
        "(an 'F' rotated through 360°, 28×28 images: a closed loop in pixel space)"
        if glyph
        else "(the unit circle in R^2)"
    )
    quick = " — **quick mode: tiny sizes, the numbers mean nothing**" if r.quick else ""
    return [
        "# agm demo: one chart must tear a loop, an atlas does not",
        "",
        f"Data: **{r.dataset}** {data}, {s.n_train} training points, seed {r.seed}{quick}.",
        "",
        f"Both models have a **{s.latent_dim}-dimensional** latent space per chart. A circle cannot be mapped "
        "continuously and one-to-one into R^1, so the one-chart model (WAE-GAN) must cut the loop somewhere; "
        f"the atlas (AWAE-GAN, {s.charts} charts) covers it with overlapping charts. "
        f"The one-chart model's encoding jumps most at **θ ≈ {r.tear_deg:.0f}°**: its tear "
        "(red line in `loop_coverage.png`).",
        "",
    ]


def _ratio(near: float | None, away: float | None) -> str:
    return "n/a" if near is None or away is None or away <= 0 else f"{near / away:.2g}x"


def _baseline_line(r: DemoResult) -> str:
    """The reconstruction of each model near the tear and away from it, and what that says about the baseline."""
    s, one, atlas = r.settings, r.one_chart, r.atlas
    numbers = (
        f"- **How good each model is, near the tear and away from it** (squared reconstruction error summed over "
        f"pixels, on the exactly rendered loop, one point per degree): away from the tear (more than "
        f"{s.tear_window_deg:.0f}° from it) one chart **{_fmt(one.loop_error_away_from_tear)}**, atlas "
        f"**{_fmt(atlas.loop_error_away_from_tear)}**; near the tear one chart {_fmt(one.loop_error_near_tear)} "
        f"({_ratio(one.loop_error_near_tear, one.loop_error_away_from_tear)} its error away from it), atlas "
        f"{_fmt(atlas.loop_error_near_tear)} ({_ratio(atlas.loop_error_near_tear, atlas.loop_error_away_from_tear)}); "
        f"on the random test points {one.reconstruction_error:.3g} and {atlas.reconstruction_error:.3g} "
        f"({one.epochs} and {atlas.epochs} epochs)."
    )
    away_one, away_atlas = one.loop_error_away_from_tear, atlas.loop_error_away_from_tear
    if away_one is not None and away_atlas is not None and away_one > 1.5 * away_atlas:
        numbers += (
            " The one-chart model is also the weaker model away from the tear, so part of its poorer geodesics is a "
            "weaker decoder, not only the tear; the tear's own effect is its error near the tear relative to away "
            "from it, and the angle travelled by the geodesic across the tear."
        )
    return numbers


def _result(r: DemoResult) -> list[str]:
    s, pairs = r.settings, r.pairs
    p0 = pairs[0]
    return [
        "## Result",
        "",
        f"Geodesics between {len(pairs)} pairs of points {s.gap_deg:.0f}° apart around the loop, the first pair "
        "centred on the one-chart model's tear. Each geodesic's decodings are located on the loop (nearest exactly "
        "rendered point): the **angle travelled** says whether it follows the short arc "
        f"({s.gap_deg:.0f}°) or goes round the other side ({360 - s.gap_deg:.0f}°), the **distance to the "
        "loop** whether its images are real points of the loop or garbage.",
        "",
        f"- Across the tear: one chart travels **{_fmt(p0.one_chart.angle_travelled_deg)}°** "
        f"(distance to the loop {_fmt(p0.one_chart.mean_distance_to_loop)}, length {_length(p0.one_chart):.3g}); "
        f"the atlas **{_fmt(p0.atlas.angle_travelled_deg)}°** (distance "
        f"{_fmt(p0.atlas.mean_distance_to_loop)}, length {_length(p0.atlas):.3g}); true arc length "
        f"{p0.true_length:.3g}.",
        f"- Geodesics that go the long way round (> 1.5 × {s.gap_deg:.0f}°): one chart "
        f"**{long_way_round(pairs, 'one_chart')} / {len(pairs)}**, atlas "
        f"**{long_way_round(pairs, 'atlas')} / {len(pairs)}**.",
        f"- Median distance of the decodings to the loop: one chart "
        f"{_median([p.one_chart.mean_distance_to_loop for p in pairs]):.3g}, atlas "
        f"{_median([p.atlas.mean_distance_to_loop for p in pairs]):.3g}.",
        _baseline_line(r),
        "",
    ]


def _pairs(r: DemoResult) -> list[str]:
    glyph = r.dataset == "glyph-loop"
    header, rows = demo_pair_rows(r)
    lengths = (
        "Lengths are decoded path lengths (sum of Euclidean distances between consecutive decodings, pixel "
        "values in [0, 1]); the true length is the same sum along the exactly rendered rotation."
        if glyph
        else "Lengths are decoded path lengths in R^2; the true length is the arc length."
    )
    return [
        markdown_table(header, rows, digits=3),
        "",
        lengths + " A short length is not by itself good: a blurry decoder makes short paths through garbage, which "
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
    ]


def _models(r: DemoResult) -> list[str]:
    s = r.settings
    header = [
        "model",
        "charts",
        "d",
        "h",
        "recon. error (test)",
        "loop error away from tear",
        "loop error near tear",
        "test points per chart",
        "graph nodes",
        "edges",
        "components",
        "diameter (hops)",
        "training",
    ]
    rows = [
        [
            d.label,
            d.n_charts,
            d.latent_dim,
            d.hidden,
            d.reconstruction_error,
            d.loop_error_away_from_tear,
            d.loop_error_near_tear,
            " ".join(map(str, d.chart_usage)),
            d.graph.n_nodes,
            d.graph.n_edges,
            d.graph.n_components,
            d.graph.diameter_hops,
            f"{d.run} ({d.epochs} epochs)",
        ]
        for d in r.models.values()
    ]
    return [
        "## Models",
        "",
        markdown_table(header, rows, digits=3),
        "",
        "Samples z ~ N(0, I) decoded in each chart (rows):",
        "",
        "![one chart](samples_one_chart.png)",
        "",
        "![atlas](samples_atlas.png)",
        "",
        f"Graphs: {s.graph_points} training points, k = {s.k}, eps = {s.eps}, {s.n_steps} steps per edge.",
        "",
    ]


def _timings(r: DemoResult) -> list[str]:
    rows = [[k, v, r.cpu_s.get(k)] for k, v in r.timings_s.items()]
    return [
        f"## Timings (seconds; {r.threads} torch thread{'s' if r.threads > 1 else ''})",
        "",
        markdown_table(["stage", "wall", "process CPU"], rows, digits=3),
    ]


def write_demo_report(path: str | os.PathLike[str], result: DemoResult) -> Path:
    """Write the demo's ``report.md`` from its result (see :func:`agm.experiments.demo.run.run_demo_result`).

    Returns:
        The path written.
    """
    lines = _intro(result) + _result(result) + _pairs(result) + _models(result) + _timings(result)
    path = Path(path)
    path.write_text("\n".join(lines))
    return path
