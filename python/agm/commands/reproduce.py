"""Reproduce the paper's Table 1 and Figs. 2-3 (train, graphs, geodesics, report).

Train (or resume/load from OUT) the WAE-GAN (1 chart) and AWAE-GANs (more charts), measure the test reconstruction
error, build the geodesic graph of each on encoded training points, compute geodesics between seeded random test pairs,
and write table1.md/.csv, figures/, results.json and report.md into OUT. A rerun with the same OUT reuses checkpoints,
graphs and geodesic lengths.
"""

from __future__ import annotations

import argparse

from agm.commands._options import add_shared, int_at_least

#: Options passed to ReproduceSettings under their own names.
_SETTINGS = (
    *("dataset", "preset", "data_dir", "points", "pairs", "k", "eps", "n_steps"),
    *("seed", "device", "epochs", "n_train", "n_test", "batch_size", "refine_steps", "refine_points"),
    *("single_eps", "attach"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``agm reproduce``."""
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"], help="data set")
    counts = int_at_least(1)
    p.add_argument(
        "--charts", type=counts, nargs="+", default=[1, 2, 4, 8, 16], help="chart counts (1 = WAE-GAN, more = AWAE-GAN)"
    )
    add_shared(p, "preset", data_dir="folder holding the MNIST / Fashion-MNIST IDX files, e.g. data/")
    p.add_argument("--out", default=None, help="output folder (default: reproduce-DATASET-PRESET)")
    p.add_argument("--points", type=counts, default=2000, help="encoded training points per graph")
    p.add_argument("--pairs", type=counts, default=100, help="random test pairs")
    p.add_argument("--k", type=counts, default=20, help="neighbours per node in each chart")
    p.add_argument(
        "--eps",
        type=float,
        default=None,
        help="partition threshold: x joins chart y when psi_y(x) > eps (default: chosen per model from a grid to "
        "match the paper's graph node counts)",
    )
    p.add_argument(
        "--single-eps",
        type=float,
        default=None,
        help="the one eps of every model's second graph, which Fig. 3a and the length claims use (default: --eps, "
        "else the grid value closest to the paper's node counts over all models together)",
    )
    p.add_argument(
        "--attach",
        default="paper",
        choices=["paper", "all"],
        help="query points attached only in their most likely chart (paper, the paper's rule) or in every chart "
        "with psi > eps (all)",
    )
    p.add_argument(
        "--n-steps", type=counts, default=15, help="segments per graph edge (eq. 10's n; n - 1 interior decodings)"
    )
    add_shared(p, "device", "epochs", "n_train", seed="seed of training, graph points and pairs")
    p.add_argument("--n-test", type=counts, default=None, help="test points (default: the whole test split)")
    p.add_argument(
        "--batch-size",
        type=counts,
        default=None,
        help="decoded points per forward call in graph and geodesic stages (default: measured on CPU, 16384 on CUDA)",
    )
    p.add_argument(
        "--refine-steps",
        type=int_at_least(0),
        default=20,
        help="most Gauss-Newton evaluations when refining Fig. 3b's strip pairs (0: no refined rows)",
    )
    p.add_argument("--refine-points", type=int_at_least(2), default=16, help="segments of each refined Fig. 3b curve")
    p.add_argument("--no-verify", action="store_true", help="do not check the IDX files' SHA-256 (own files)")
    add_shared(p, "threads", "quiet")


def run(args: argparse.Namespace) -> int:
    """Run the reproduction and print Table 1."""
    from pathlib import Path

    from agm.commands._options import apply_threads
    from agm.experiments.reproduction.run import ReproduceSettings, run_reproduce

    apply_threads(args)
    settings = ReproduceSettings(
        charts=tuple(args.charts),
        verify=not args.no_verify,
        progress=not args.quiet,
        **{name: getattr(args, name) for name in _SETTINGS},
    )
    out = Path(args.out) if args.out else Path(f"reproduce-{args.dataset}-{args.preset}")
    run_reproduce(settings, out)
    print((out / "table1.md").read_text())
    print(f"report: {out / 'report.md'}")
    return 0
