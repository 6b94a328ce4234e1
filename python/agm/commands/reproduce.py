"""``agm reproduce``: the paper's experiment (Table 1, Figs. 2-3) on MNIST or Fashion-MNIST, resumable."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``reproduce`` subcommand."""
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper's Table 1 and Figs. 2-3 (train, graphs, geodesics, report)",
        description="Train (or resume/load from OUT) the WAE-GAN (1 chart) and AWAE-GANs (more charts), measure the "
        "test reconstruction error, build the geodesic graph of each on encoded training points, compute geodesics "
        "between seeded random test pairs, and write table1.md/.csv, figures/, results.json and report.md into OUT. "
        "A rerun with the same OUT reuses checkpoints, graphs and geodesic lengths.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"], help="data set")
    p.add_argument(
        "--charts", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="chart counts (1 = WAE-GAN, more = AWAE-GAN)"
    )
    p.add_argument("--preset", default="cpu", choices=["paper", "cpu", "tiny"], help="training preset")
    p.add_argument("--data-dir", default=None, help="folder holding the IDX files (e.g. /work/shared/data)")
    p.add_argument("--out", default=None, help="output folder (default: reproduce-DATASET-PRESET)")
    p.add_argument("--points", type=int, default=2000, help="encoded training points per graph")
    p.add_argument("--pairs", type=int, default=100, help="random test pairs")
    p.add_argument("--k", type=int, default=20, help="neighbours per node in each chart")
    p.add_argument("--eps", type=float, default=0.05, help="partition threshold: x joins chart y when psi_y(x) > eps")
    p.add_argument("--n-steps", type=int, default=15, help="intermediate decodings per graph edge")
    p.add_argument("--seed", type=int, default=0, help="seed of training, graph points and pairs")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA when available")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the preset's)")
    p.add_argument("--n-train", type=int, default=None, help="training points (default: the preset's)")
    p.add_argument("--n-test", type=int, default=None, help="test points (default: the whole test split)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="decoded points per forward call in graph and geodesic stages (default: measured on CPU, 16384 on CUDA)",
    )
    p.add_argument("--no-verify", action="store_true", help="do not check the IDX files' SHA-256 (own files)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the reproduction and print Table 1."""
    from pathlib import Path

    import torch

    from agm.experiments.reproduce import ReproduceSettings, run_reproduce

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads: expected >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    settings = ReproduceSettings(
        dataset=args.dataset,
        charts=tuple(args.charts),
        preset=args.preset,
        data_dir=args.data_dir,
        points=args.points,
        pairs=args.pairs,
        k=args.k,
        eps=args.eps,
        n_steps=args.n_steps,
        seed=args.seed,
        device=args.device,
        epochs=args.epochs,
        n_train=args.n_train,
        n_test=args.n_test,
        verify=not args.no_verify,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    out = Path(args.out) if args.out else Path(f"reproduce-{args.dataset}-{args.preset}")
    run_reproduce(settings, out)
    print((out / "table1.md").read_text())
    print(f"report: {out / 'report.md'}")
    return 0
