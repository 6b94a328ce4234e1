"""``agm demo``: the README's main job: one chart tears a loop, an atlas does not (embedded data, no download)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="3-minute demo: geodesics of a one-chart model and an atlas on a loop (writes report.md + PNGs)",
        description="Train a one-chart WAE-GAN and a multi-chart AWAE-GAN with a 1-D latent space on the rotating "
        "glyph loop (no download), build both geodesic graphs, compute geodesics between the same pairs (one "
        "across the one-chart model's tear) and write OUT/report.md with figures and OUT/results.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="agm-demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds; for tests, numbers meaningless)")
    p.add_argument("--seed", type=int, default=0, help="random seed (data, weights, samples)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA when available")
    p.add_argument(
        "--dataset",
        default="glyph-loop",
        choices=["glyph-loop", "circle"],
        help="glyph-loop: rotated 'F' images (conv nets); circle: points in R^2 (MLPs, faster)",
    )
    p.add_argument("--charts", type=int, default=None, help="charts of the atlas model (default 4)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per model (default 8)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the report is."""
    import dataclasses

    import torch

    from agm.experiments.demo import FULL, QUICK, run_demo

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads: expected >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else FULL
    changes = {k: v for k, v in (("charts", args.charts), ("epochs", args.epochs)) if v is not None}
    if changes:
        settings = dataclasses.replace(settings, **changes)
    results = run_demo(
        args.out,
        quick=args.quick,
        seed=args.seed,
        device=args.device,
        dataset=args.dataset,
        settings=settings,
        progress=not args.quiet,
    )
    p = results["pairs"][0]
    print(
        f"pair across the one-chart model's tear (θ ≈ {results['tear_deg']:.0f}°): geodesic length "
        f"one chart {p['one_chart']['length']}, atlas {p['atlas']['length']}, true {p['true_length']:.4g}"
    )
    print(f"report: {args.out}/report.md")
    return 0
