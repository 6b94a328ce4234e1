"""The reproduction's Table 1 (Markdown + CSV, every cell beside the paper's) and ``report.md``, written from its
typed result (:class:`~agm.experiments.reproduction.results.ReproductionResult`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agm.experiments.reproduction.claims import check_claims
from agm.experiments.reproduction.paper import paper_row
from agm.experiments.reproduction.results import ReproductionModelResult, ReproductionResult
from agm.experiments.tables import format_cell, markdown_table, write_csv
from agm.geodesic.query.layered import SWITCH_TOLERANCE

TABLE1_HEADER = [
    "charts",
    "model",
    "continuous dim",
    "parameters (enc+dec)",
    "recon. error (per pixel)",
    "recon. error (summed)",
    "eps",
    "graph nodes",
    "graph edges",
    "diameter (hops)",
    "components",
    "geodesic length (median)",
    "geodesic length (mean)",
    "unreachable pairs",
    "straight line (median)",
    "single eps",
    "graph nodes (single eps)",
    "graph edges (single eps)",
    "diameter (single eps)",
    "geodesic length (median, single eps)",
    "attach rule",
    "paper: continuous dim",
    "paper: parameters",
    "paper: recon. error (per pixel)",
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


def _name(m: int) -> str:
    return "WAE-GAN" if m == 1 else "AWAE-GAN"


def table1_rows(result: ReproductionResult) -> list[list[Any]]:
    """Table 1 rows (one per chart count) in the order of :data:`TABLE1_HEADER` (paper cells None where the
    paper's Table 1 has no such model)."""
    rows = []
    for r in result.models:
        g, q, p = r.graph, r.geodesics, paper_row(result.settings.dataset, r.charts)
        sg, sq = r.single_eps_graph, r.single_eps_geodesics
        rows.append(
            [
                r.charts,
                _name(r.charts),
                r.latent_dim,
                r.parameters,
                r.reconstruction_error_per_pixel,
                r.reconstruction_error,
                g.eps,
                g.n_nodes,
                g.n_edges,
                g.diameter_hops,
                g.n_components,
                q.median,
                q.mean,
                q.n_unreachable,
                _median(r.straight_line),
                result.single_eps,
                None if sg is None else sg.n_nodes,
                None if sg is None else sg.n_edges,
                None if sg is None else sg.diameter_hops,
                None if sq is None else sq.median,
                result.settings.attach,
                None if p is None else p.latent_dim,
                None if p is None else p.parameters,
                None if p is None else p.reconstruction_error,
                None if p is None else p.nodes,
                None if p is None else p.edges,
                None if p is None else p.diameter,
            ]
        )
    return rows


def _beside(ours: Any, paper: Any, digits: int = 4) -> str:
    return f"{format_cell(ours, digits)} ({format_cell(paper, digits)})"


def paper_shaped_table(result: ReproductionResult) -> str:
    """Table 1 laid out as in the paper (one column per model), every cell "ours (paper)"."""
    models = result.models
    papers = [paper_row(result.settings.dataset, r.charts) for r in models]

    def row(name: str, ours: list[Any], paper: list[Any], digits: int = 4) -> list[str]:
        return [name] + [_beside(o, p, digits) for o, p in zip(ours, paper)]

    def field(attr: str) -> list[Any]:
        return [None if p is None else getattr(p, attr) for p in papers]

    rows = [
        ["No. charts"] + [str(r.charts) for r in models],
        row("Continuous dimension", [r.latent_dim for r in models], field("latent_dim")),
        row("Trainable parameters", [r.parameters for r in models], field("parameters")),
        row(
            "Reconstruction error (per-pixel MSE)",
            [r.reconstruction_error_per_pixel for r in models],
            field("reconstruction_error"),
            3,
        ),
        row("Graph nodes", [r.graph.n_nodes for r in models], field("nodes")),
        row("Graph edges", [r.graph.n_edges for r in models], field("edges")),
        row("Graph diameter", [r.graph.diameter_hops for r in models], field("diameter")),
        ["eps (ours, fitted per model to the paper's nodes; the paper gives none)"]
        + [format_cell(r.graph.eps) for r in models],
    ]
    if result.single_eps is not None:
        single = [r.single_eps_graph for r in models]
        rows += [
            row(
                f"Graph nodes at one eps = {result.single_eps:g} for every model",
                _of(single, "n_nodes"),
                field("nodes"),
            ),
            row(f"Graph edges at eps = {result.single_eps:g}", _of(single, "n_edges"), field("edges")),
            row(f"Graph diameter at eps = {result.single_eps:g}", _of(single, "diameter_hops"), field("diameter")),
        ]
    rows.append(["Query attachment rule"] + [_rule_name(result.settings.attach)] * len(models))
    return markdown_table([""] + [_name(r.charts) for r in models], rows)


def _of(records: list[Any], attr: str) -> list[Any]:
    return [None if r is None else getattr(r, attr) for r in records]


def _rule_name(rule: str) -> str:
    return "paper (most likely chart)" if rule == "paper" else "all (every chart with psi > eps)"


def rule_sentence(result: ReproductionResult) -> str:
    """Which query rule and which eps produced the geodesic numbers (one sentence for every table's note)."""
    rule = result.settings.attach
    text = (
        "Geodesics: test points attached by the paper's rule (z0, y0), each only in its most likely chart"
        if rule == "paper"
        else "Geodesics: test points attached in every chart with psi > eps (the package's rule, not the paper's)"
    )
    return text + (
        f"; a route up to {1 + SWITCH_TOLERANCE:g}x the shortest is taken when it has fewer chart switches "
        f"(switch tolerance {SWITCH_TOLERANCE:g}; the tables' lengths are those routes')."
    )


def write_table1(out: str | os.PathLike[str], result: ReproductionResult) -> tuple[Path, Path]:
    """Write ``table1.md`` (the paper-shaped table and the wide one) and ``table1.csv`` (the wide one) into ``out``."""
    out = Path(out)
    rows = table1_rows(result)
    md = out / "table1.md"
    md.write_text(paper_shaped_table(result) + "\n" + markdown_table(TABLE1_HEADER, rows) + "\n" + _table1_note(result))
    return md, write_csv(out / "table1.csv", TABLE1_HEADER, rows)


def _eps_note(models: list[ReproductionModelResult]) -> str:
    choices = {r.eps_choice.rule for r in models}
    if choices == {"fixed"}:
        return f"eps is fixed at {models[0].graph.eps:g} for every graph."
    grid = ", ".join(f"{v:g}" for v in models[0].eps_choice.grid)
    return (
        "eps: the paper does not give it, so for every model it is the value of the grid {" + grid + "} whose node "
        "count (points with psi_y > eps, summed over the charts kept) is closest to the paper's node count for that "
        "chart count, scaled to this graph's points / 2,000; the node count decides only eps, nothing else. "
        "For one chart every eps gives the same graph."
    )


def _table1_note(result: ReproductionResult) -> str:
    return (
        "Cells are 'ours (paper)'; the paper's values are those of its Table 1 for this data set "
        "(agm.experiments.reproduction.paper); — means the paper has no such model. Reconstruction error: mean over "
        "the test points of the squared "
        f"error through the most likely chart, per pixel (the paper's unit: the summed value / {result.n_pixels}); "
        "the summed value is kept in results.json and the wide table. Parameters: encoders + psi + decoders "
        "(discriminators excluded). Graph: Algorithm 1 on the encoded training points; diameter in hops within the "
        "largest component. Paper edges are published rounded to 0.1k. "
        + _eps_note(result.models)
        + " Geodesic lengths: decoded path lengths of the random test pairs; straight line: the one-chart model's "
        "decoded straight latent segment between the same encodings. "
        + _single_note(result)
        + rule_sentence(result)
        + "\n"
    )


def _single_note(result: ReproductionResult) -> str:
    if result.single_eps is None:
        return ""
    return (
        f"The single-eps rows use one eps = {result.single_eps:g} for every model (the grid value whose node counts "
        "are closest to the paper's over all models together, unless given), so that the models' graphs, lengths "
        "and diameters compare like with like; Fig. 3a and the length and diameter claims use them. "
    )


def _claims_section(result: ReproductionResult) -> list[str]:
    rows = [
        [c.claim, f"**{c.verdict}**" + (f": {c.finding}" if c.finding else ""), c.evidence]
        for c in check_claims(result)
    ]
    return [
        "## The paper's claims, checked",
        "",
        "Each claim of Section 4 (as listed in `shared/paper/table1.md`), what our numbers show (direction and "
        "magnitude, at this model size and training budget) and the evidence, generated from this run's results. "
        + rule_sentence(result),
        "",
        markdown_table(["claim", "what our numbers show", "evidence"], rows),
    ]


def _lengths_section(result: ReproductionResult) -> list[str]:
    lines = [
        "## Geodesic lengths (Fig. 3a)",
        "",
        "The length distribution of every model's geodesics between the same random test pairs, and the one-chart "
        "model's straight latent line between the same encodings (decoded with many steps). A ratio geodesic / "
        "straight line above 1 means the discrete graph path (a polyline through encoded training points, which "
        "stays near the data) is longer than the straight line (which may cross regions without data). "
        + _single_note(result)
        + rule_sentence(result),
        "",
    ]
    for r in result.models:
        if r.straight_line is None:
            continue
        pairs = [
            (g, s) for g, s in zip(r.geodesics.lengths, r.straight_line) if g is not None and s is not None and s > 0
        ]
        if pairs:
            ratios = sorted(g / s for g, s in pairs)
            lines.append(
                f"WAE-GAN: geodesic / straight line, median over {len(pairs)} pairs: "
                f"**{ratios[len(ratios) // 2]:.3f}** (range {ratios[0]:.3f} – {ratios[-1]:.3f})."
            )
    return lines + ["", "![Fig. 3a](figures/fig3a_lengths.png)", ""]


REFINED_HEADER = [
    "charts",
    "model",
    "pairs refined",
    "shortened",
    "graph length (median)",
    "refined length (median)",
    "refined / graph (median)",
    "refined / graph (min - max)",
    "Gauss-Newton evaluations / segments",
    "seconds",
]


def refined_rows(result: ReproductionResult) -> list[list[Any]]:
    """One row per model with a refined stage, in the order of :data:`REFINED_HEADER`."""
    rows = []
    for r in result.models:
        q = r.refined
        if q is None:
            continue
        spread = None if q.min_ratio is None or q.max_ratio is None else f"{q.min_ratio:.4f} - {q.max_ratio:.4f}"
        rows.append(
            [
                r.charts,
                _name(r.charts),
                sum(v is not None for v in q.refined_lengths),
                sum(q.shortened),
                _median(q.graph_lengths),
                _median(q.refined_lengths),
                q.median_ratio,
                spread,
                f"{q.steps} / {q.points}",
                q.seconds,
            ]
        )
    return rows


def _refined_section(result: ReproductionResult) -> list[str]:
    rows = refined_rows(result)
    if not rows:
        return []
    return [
        "## Refined geodesics (Fig. 3b's refined rows)",
        "",
        "The strip pairs' graph geodesics refined into smooth curves (agm.geodesic.refine_paths: the decoded curve's "
        "discrete energy minimised by a batched Gauss-Newton descent, every point kept where its chart's psi exceeds "
        "eps, the curve's charts re-chosen before and after the descent, so a transition may be added, dropped or "
        "moved; eq. (10) with the graph's steps per segment measures both). A refined length is never above the "
        "graph length: the graph path is kept where refining does not shorten it. A ratio well below 1 means the "
        "graph's polyline through encoded training points is far from the shortest curve on the decoded "
        "manifold. " + rule_sentence(result),
        "",
        markdown_table(REFINED_HEADER, rows, digits=4),
        "",
    ]


def _per_model_section(result: ReproductionResult) -> list[str]:
    lines = [
        "## Per model (Fig. 2: 12 samples per chart, charts 1..m; histogram of max_y psi_y on the test points)",
        "",
    ]
    for r in result.models:
        m, t = r.charts, r.training
        lines += [
            f"### {m} chart{'s' if m > 1 else ''} ({_name(m)})",
            "",
            f"Training: {t.status} ({t.epochs} epochs, {t.seconds:.0f} s in this run); mean max psi "
            f"{r.mean_confidence:.3f}, max psi > 0.9 for {r.confident_fraction:.0%} of the test points; test points "
            f"per chart: {' '.join(map(str, r.chart_usage))}; charts holding >= 10% of a class: "
            f"{' '.join(map(str, r.charts_per_class))}; graph {r.graph.status} (eps {r.graph.eps:g}); geodesics "
            f"{r.geodesics.status}, mean chart changes per path {r.geodesics.mean_chart_changes:.2f}.",
            "",
            f"![Fig. 2a m={m}](figures/fig2a_samples_m{m:02d}.png) "
            f"![Fig. 2b m={m}](figures/fig2b_confidence_m{m:02d}.png)",
            "",
        ]
    return lines


def _timings_section(result: ReproductionResult) -> list[str]:
    stages = ("train", "evaluate", "graph", "geodesics", "strips", "refine")
    rows = []
    for r in result.models:
        cells = [f"{r.timings_s[k]:.1f} / {r.cpu_s[k]:.1f}" if k in r.timings_s else None for k in stages]
        rows.append([r.charts, *cells, sum(r.timings_s.values())])
    t = result.timings_s
    return [
        "## Timings (wall / process CPU seconds, this run; loaded stages cost only their loading)",
        "",
        "With one torch thread the CPU time is what the stage costs on an otherwise idle core.",
        "",
        markdown_table(["charts", *stages, "wall total"], rows, digits=3),
        f"Data loading {t['data']:.1f} s, figures {t['figures']:.1f} s, **total {t['total']:.0f} s**.",
        "",
    ]


def write_reproduction_report(path: str | os.PathLike[str], result: ReproductionResult) -> Path:
    """Write ``report.md``: Table 1 beside the paper's, the claims checked, Figs. 2-3 and the timings.

    Returns:
        The path written.
    """
    s = result.settings
    lines = [
        f"# Reproduction: atlas generative models on {s.dataset}",
        "",
        f"Preset **{s.preset}**, charts {', '.join(map(str, s.charts))}, seed {s.seed}; {result.n_train} training "
        f"points, {result.n_test} test points; graphs on {s.points} encoded training points (k = {s.k}, "
        f"{s.n_steps} segments per edge); {s.pairs} random test pairs; query attachment rule '{s.attach}'.",
        "",
        "## Table 1",
        "",
        paper_shaped_table(result),
        markdown_table(TABLE1_HEADER, table1_rows(result)),
        _table1_note(result),
    ]
    lines += _claims_section(result) + [""] + _lengths_section(result)
    lines += [
        "## Interpolations (Fig. 3b)",
        "",
        "The same test pairs for the WAE-GAN and the multi-chart model, pair by pair (each graph geodesic followed "
        "by its refined curve when the run refines); under each step its chart (numbered 1..m as in Fig. 2a), 'a/b' "
        "on a chart transition (graphs at each model's fitted eps). " + rule_sentence(result),
        "",
        "![Fig. 3b](figures/fig3b_interpolations.png)",
        "",
    ]
    lines += _refined_section(result)
    lines += _per_model_section(result) + _timings_section(result)
    path = Path(path)
    path.write_text("\n".join(lines))
    return path


#: Compatible name of :func:`write_reproduction_report` (the module was ``reproduce_report``).
write_reproduce_report = write_reproduction_report
