"""3-minute demo: geodesics of a one-chart model and an atlas on a loop (writes report.md + PNGs).

Train a one-chart WAE-GAN and a multi-chart AWAE-GAN with a 1-D latent space on the rotating glyph loop (no download),
build both geodesic graphs, compute geodesics between the same pairs (one across the one-chart model's tear) and write
OUT/report.md with figures and OUT/results.json. It is the README's main job: one chart tears a loop, an atlas does not.
"""

from __future__ import annotations

import argparse

from agm.commands._options import add_shared, int_at_least


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``agm demo``."""
    p.add_argument("--out", default="agm-demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds; for tests, numbers meaningless)")
    p.add_argument(
        "--dataset",
        default="glyph-loop",
        choices=["glyph-loop", "circle"],
        help="glyph-loop: rotated 'F' images (conv nets); circle: points in R^2 (MLPs, faster)",
    )
    p.add_argument("--charts", type=int_at_least(1), default=None, help="charts of the atlas model (default 4)")
    add_shared(
        p,
        "device",
        "quiet",
        seed="random seed (data, weights, samples)",
        threads="torch threads (and native search threads) of the demo's stages (default: DEMO_THREADS of "
        "agm.experiments.demo.run, measured fastest on a shared machine)",
        epochs="training epochs per model (default 8)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the report is."""
    import dataclasses

    from agm.experiments.demo.run import FULL, QUICK, run_demo_result

    settings = QUICK if args.quick else FULL
    changes = {k: v for k, v in (("charts", args.charts), ("epochs", args.epochs)) if v is not None}
    if changes:
        settings = dataclasses.replace(settings, **changes)
    result = run_demo_result(
        args.out,
        quick=args.quick,
        seed=args.seed,
        device=args.device,
        dataset=args.dataset,
        settings=settings,
        threads=args.threads,
        progress=not args.quiet,
    )
    p = result.pairs[0]
    one, atlas = (f"{q.length:.4g}" if q.length is not None else "unreachable" for q in (p.one_chart, p.atlas))
    print(
        f"pair across the one-chart model's tear (θ ≈ {result.tear_deg:.0f}°): geodesic length "
        f"one chart {one}, atlas {atlas}, true {p.true_length:.4g}"
    )
    print(f"report: {args.out}/report.md")
    return 0
