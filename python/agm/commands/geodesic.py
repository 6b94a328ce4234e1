"""Geodesics of a checkpoint between data points, across its charts.

Build the graph of Algorithm 1 over --n points of the checkpoint's data set (the test split by default), find the
geodesics of --pairs random pairs (or of --from I --to J), optionally --refine them into smooth curves, and write
to --out: strips.png (n decodings per geodesic), geodesics.json (lengths, chart sequences, refined lengths),
distances.npy and distances.json (the geodesic distance matrix of the pairs' end points), committed as one run with
geodesic-manifest.json (``agm._files.run_folder``: a crash leaves the previous run or this one; check a folder with
``agm._files.read_run(DIR, "geodesic")``). Prints an up-front estimate of the decodings it will cost.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

from agm._files import run_folder
from agm.commands._options import add_shared, apply_threads, int_at_least


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``agm geodesic``."""
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint.pt written by agm train")
    p.add_argument("--data", default=None, help="data set name (default: the checkpoint's)")
    p.add_argument("--split", default="test", choices=("train", "test"), help="split the graph is built on")
    p.add_argument("--n", type=int_at_least(2), default=1000, help="data points in the graph")
    p.add_argument("--pairs", type=int_at_least(1), default=None, help="random pairs of points (default 4)")
    p.add_argument("--from", dest="source", type=int_at_least(0), default=None, help="index of the start point")
    p.add_argument("--to", dest="target", type=int_at_least(0), default=None, help="index of the end point")
    p.add_argument("--k", type=int_at_least(1), default=20, help="neighbours per node")
    p.add_argument("--eps", type=float, default=0.05, help="partition threshold for chart membership")
    p.add_argument("--n-steps", type=int_at_least(1), default=15, help="segments per edge (eq. 10)")
    p.add_argument(
        "--attach",
        default="all",
        choices=("all", "paper"),
        help="query points attached in every chart with psi > eps (all) or only in their most likely chart (paper, "
        "the paper's rule)",
    )
    p.add_argument(
        "--switch-tolerance",
        type=float,
        default=None,
        help="a route up to (1 + this) times the shortest is taken when it has fewer chart switches (0: the shortest; "
        "default: agm.geodesic.query.layered.SWITCH_TOLERANCE, 2e-2)",
    )
    p.add_argument("--refine", action="store_true", help="also refine every geodesic into a smooth curve")
    p.add_argument("--strip", type=int_at_least(2), default=10, help="decodings per strip")
    p.add_argument("--out", required=True, help="folder for strips.png, geodesics.json, distances.npy/.json")
    add_shared(p, "device", "threads", "quiet", "seed", data_dir="folder holding the data sets")


def estimate_decodes(n_points: int, n_charts: int, k: int, n_steps: int, n_queries: int, refine: int) -> int:
    """An upper bound of the decodings: every node, every intra-chart edge eagerly (k per node, n_steps - 1
    interior points each), every query point's attachments (k per chart), and ``refine`` decodings of refinement."""
    nodes = n_points * n_charts
    inner = max(0, n_steps - 1)
    return nodes + nodes * k * inner + n_queries * n_charts * (1 + k * inner) + refine


def _pairs(args: argparse.Namespace, n: int) -> list[tuple[int, int]]:
    """The (start, end) index pairs asked for."""
    import numpy as np

    if (args.source is None) != (args.target is None):
        raise ValueError("--from and --to must be given together")
    if args.source is not None:
        if args.pairs is not None:
            raise ValueError("give either --pairs N or --from I --to J, not both")
        for flag, i in (("--from", args.source), ("--to", args.target)):
            if i >= n:
                raise ValueError(f"{flag} must be below the number of points --n={n}; got {i}")
        return [(int(args.source), int(args.target))]
    rng = np.random.default_rng(args.seed)
    pairs = rng.choice(n, size=(args.pairs or 4, 2), replace=True)
    return [(int(a), int(b)) for a, b in pairs]


def run(args: argparse.Namespace) -> int:
    """Build the graph, find (and refine) the geodesics, write the strips, lengths and distance matrix."""
    import numpy as np
    from tqdm.auto import tqdm

    from agm import geodesic
    from agm.data import load_dataset
    from agm.models import SemiAtlasModel
    from agm.training import load_checkpoint, resolve_device

    apply_threads(args)
    if not 0.0 <= args.eps < 1.0:
        raise ValueError(f"--eps must be in [0, 1); got {args.eps}")
    from agm.geodesic.query.layered import SWITCH_TOLERANCE

    tolerance = SWITCH_TOLERANCE if args.switch_tolerance is None else args.switch_tolerance
    if not 0.0 <= tolerance < float("inf"):
        raise ValueError(f"--switch-tolerance must be finite and >= 0; got {tolerance}")
    path = Path(args.checkpoint)
    loaded, config, _ = load_checkpoint(path, map_location=resolve_device(args.device))
    if not isinstance(loaded, SemiAtlasModel):
        raise ValueError(f"{path}: model {config.model!r} implements neither the atlas nor the semi-atlas interface")
    model: SemiAtlasModel = loaded
    data_dir = args.data_dir if args.data_dir is not None else config.data_dir
    data = load_dataset(args.data or config.dataset, args.split, data_dir=data_dir, n=args.n, seed=args.seed).x
    pairs = _pairs(args, int(data.shape[0]))
    ends = sorted({i for pair in pairs for i in pair})
    refine_cost = 0
    if args.refine:  # refine_paths' defaults: its evaluations, sub-steps, Jacobians and re-chartings, at most
        from agm.geodesic.paths.refine import refine_decode_bound

        refine_cost = refine_decode_bound(len(pairs), args.n_steps, int(model.latent_dim), int(model.n_charts))
    estimate = estimate_decodes(int(data.shape[0]), model.n_charts, args.k, args.n_steps, len(ends), refine_cost)
    print(f"agm geodesic: {len(pairs)} pair(s) on {data.shape[0]} points; at most ~{estimate:,} decodings")
    progress = not args.quiet
    nodes: geodesic.DecoderNodes | Literal["auto"] = (
        "auto" if hasattr(model, "encode") else geodesic.DecoderNodes(seed=args.seed)
    )
    graph = geodesic.build_graph(
        model, data, k=args.k, eps=args.eps, n_steps=args.n_steps, nodes=nodes, progress=progress, attach=args.attach
    )
    found = []
    for a, b in tqdm(pairs, desc="geodesics", unit="pair", disable=not progress):
        found.append(geodesic.shortest_path(model, data[a], data[b], graph=graph, switch_tolerance=tolerance))
    refined = geodesic.refine_paths(found, eps=args.eps, progress=progress) if args.refine else []
    index = {i: j for j, i in enumerate(ends)}
    matrix = geodesic.distances(model, data[ends], graph=graph, progress=progress)
    out = Path(args.out)
    rows = found + refined
    labels = [f"{a}->{b}" for a, b in pairs] + [f"{a}->{b} refined" for a, b in pairs] * bool(refined)
    summary: dict[str, Any] = {
        "checkpoint": str(path),
        "graph": graph.stats(),
        "pairs": [
            {
                "from": a,
                "to": b,
                "length": p.length,
                "shortest_length": p.shortest_length,
                "charts": p.charts.tolist(),
                "chart_changes": p.chart_changes.tolist(),
                "data_indices": p.data_indices.tolist(),
                **(
                    {"refined_length": refined[i].length, "refined_charts": refined[i].charts.tolist()}
                    if refined
                    else {}
                ),
            }
            for i, ((a, b), p) in enumerate(zip(pairs, found))
        ],
        "decode_estimate": estimate,
        "attach": args.attach,
        "switch_tolerance": tolerance,
    }
    finite = [[float(v) if np.isfinite(v) else None for v in row] for row in matrix]
    with run_folder(out, "geodesic") as stage:  # written aside, committed as one run (agm._files.run_folder)
        geodesic.plot_strip(rows, stage / "strips.png", n=args.strip, labels=labels)
        (stage / "geodesics.json").write_text(json.dumps(summary, indent=2))
        np.save(stage / "distances.npy", matrix)
        (stage / "distances.json").write_text(json.dumps({"points": ends, "distances": finite}, indent=2))
    strips = out / "strips.png"
    for i, ((a, b), p) in enumerate(zip(pairs, found)):
        extra = f", refined {refined[i].length:.4f}" if refined else ""
        print(f"{a} -> {b}: length {p.length:.4f}{extra}, charts {_runs(p.charts.tolist())}")
    print(f"wrote {strips}, {out / 'geodesics.json'}, {out / 'distances.npy'} ({len(index)} points)")
    return 0


def _runs(charts: list[int]) -> str:
    """A chart sequence without repeats, e.g. '3 -> 1 -> 3'."""
    runs = [c for i, c in enumerate(charts) if i == 0 or c != charts[i - 1]]
    return " -> ".join(str(c) for c in runs)
