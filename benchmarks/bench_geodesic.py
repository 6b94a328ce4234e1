"""Algorithm 1 end to end: build_graph against the decoder's limit and a per-edge loop; query latency; lazy
weights (LazySP) against eager ones.

The decoder is the whole cost of building the graph. The limit is the time to decode the minimal number of
points (one decoding per node, n_steps - 1 per intra-chart edge: eq. 10 with t_i = i / n) at the decoder's best
throughput, measured here by a sweep over (torch threads, batch size) on single-chart batches, as the build
decodes them; it times repeated calls on one batch (hot caches), so it is optimistic. A second limit times bare
decoder calls on the build's own interior points (distinct inputs, as the build feeds them, without its packing
and norms), by threads and batch size, round-robin. The eager build_graph is reported as a ratio to both limits
(wall and CPU time), next to a per-edge loop (what a hand-written script does: decode the n_steps + 1 points of
each edge, endpoints included, one edge at a time). Lazy weights: decodes and time to the first exact geodesic
(build + one query) and for all pairs, lazy vs eager, with the fraction of edges the pairs evaluated; the lengths
must agree. The limits' CPU time is measured with their decodes (all threads), beside their wall time.

Model: the paper's 8-chart AWAE-GAN decoder (h = 48, d = 7) with its initial weights, or a trained checkpoint
(--checkpoint, with its own psi; --eps). With initial weights psi is nearly uniform, so the benchmark assigns
charts itself (a fixed, sharp partition: each point in one chart, one in ten in two), keeping the node count of a
trained model.
Data: MNIST training images when $AGM_DATA_DIR has them, random images otherwise (the cost does not depend on it).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, parser, timeit, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.geodesic.graph.policy import DecodePolicy, applied, thread_candidates  # noqa: E402
from agm.geodesic.query.attach import attach  # noqa: E402
from agm.geodesic.query.direct import direct_edges  # noqa: E402
from agm.models import AWAEGAN  # noqa: E402


class AssignedCharts(torch.nn.Module):
    """A model whose encoders/decoders are the given AGM's, with a fixed sharp partition of unity."""

    primary: torch.Tensor
    secondary: torch.Tensor
    both: torch.Tensor

    def __init__(self, inner: AWAEGAN, n_points: int, seed: int) -> None:
        super().__init__()
        self.inner, self.n_charts, self.latent_dim = inner, inner.n_charts, inner.latent_dim
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("primary", torch.randint(inner.n_charts, (n_points,), generator=g))
        self.register_buffer("secondary", torch.randint(inner.n_charts, (n_points,), generator=g))
        self.register_buffer("both", torch.rand(n_points, generator=g) < 0.1)
        self.lookup: dict[bytes, int] = {}

    def remember(self, data: torch.Tensor) -> None:
        self.lookup = {row.numpy().tobytes(): i for i, row in enumerate(data.reshape(data.shape[0], -1))}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.encode(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(z, y)

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        idx = torch.tensor([self.lookup.get(r.cpu().numpy().tobytes(), 0) for r in x.reshape(x.shape[0], -1)])
        psi = torch.full((x.shape[0], self.n_charts), 1e-4)
        psi[torch.arange(x.shape[0]), self.primary[idx]] = 1.0
        two = self.both[idx]
        psi[torch.arange(x.shape[0])[two], self.secondary[idx][two]] = 0.5
        return (psi / psi.sum(1, keepdim=True)).to(x.device)


class DecodeCounter:
    """Counts the points a model decodes (``count``), by wrapping the instance's ``decode`` (the model is
    otherwise as is): the benchmarks' one decode counter."""

    def __init__(self, model: Any) -> None:
        self.count = 0
        inner = model.decode

        def decode(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            self.count += int(z.shape[0])
            return inner(z, y)  # type: ignore[no-any-return]

        model.decode = decode


def eager_attachment_decodes(
    model: Any, graph: geodesic.GeodesicGraph, x0: torch.Tensor, x1: torch.Tensor, device: torch.device
) -> int:
    """Points a query decodes with eager attachments (every attachment and direct edge decoded, as before
    issue 12): the copies' decodings plus n_steps - 1 per attachment and direct edge."""
    batch = graph.decode_policy.batch_size if graph.decode_policy else 256
    with torch.no_grad():
        src = attach(graph.record, model, x0, batch, device)
        dst = attach(graph.record, model, x1, batch, device)
    inner = graph.n_steps - 1
    n_direct = int(direct_edges(graph.record, src, dst).length.size)
    return int(src.copy_chart.size + dst.copy_chart.size + (src.nodes.size + dst.nodes.size + n_direct) * inner)


def reached(paths: Sequence[geodesic.GeodesicPath | None]) -> list[geodesic.GeodesicPath]:
    """The paths, every pair reachable (the benchmark's graph is connected)."""
    out = [p for p in paths if p is not None]
    assert len(out) == len(paths), "an unreachable pair"
    return out


def load_images(n: int, seed: int) -> tuple[torch.Tensor, str]:
    try:
        from agm.data import load_dataset

        ds = load_dataset("mnist", "train", n=n, seed=seed, download=False)
        return ds.x, "mnist"
    except (ImportError, FileNotFoundError, ValueError):
        g = torch.Generator().manual_seed(seed)
        return torch.rand(n, 1, 28, 28, generator=g), "random"


def decode_throughput(
    model: Any, sizes: list[int], points: int, device: torch.device, threads: int | None
) -> tuple[dict[int, float], dict[int, float]]:
    """Points per second of model.decode at each batch size on single-chart batches (as the build decodes), with
    ``threads`` torch threads: median of 3 runs of ``max(points, size)`` points each, per wall second and per CPU
    second (all threads)."""
    out, per_cpu = {}, {}
    policy = DecodePolicy(threads=threads, batch_size=1)
    with torch.no_grad(), applied(policy):
        for b in sizes:
            z = torch.randn(b, model.latent_dim, device=device)
            y = torch.zeros(b, dtype=torch.int64, device=device)
            reps = max(1, points // b)

            def run(z: torch.Tensor = z, y: torch.Tensor = y, reps: int = reps) -> None:
                for _ in range(reps):
                    model.decode(z, y)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            t, _ = timeit(run, repeats=3)
            out[b] = reps * b / statistics.median(t.times)
            per_cpu[b] = reps * b / max(statistics.median(t.cpu_times), 1e-9)
    return out, per_cpu


def interior_stream(graph: geodesic.GeodesicGraph, n_edges: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """The interior latents (t_i = i / n, i = 1..n-1) of the first ``n_edges`` intra-chart edges of the graph's
    first chart, in the build's order (edge after edge): (points (P, d) float32 on ``device``, their chart)."""
    native = graph.native
    lat = torch.from_numpy(graph.latents)
    chart = torch.as_tensor(graph.node_chart)
    edges = torch.as_tensor(np.asarray(native.edges[: native.n_intra_edges], dtype=np.int64))
    same = edges[chart[edges[:, 0]] == chart[edges[0, 0]]][:n_edges]
    t = torch.arange(1, graph.n_steps, dtype=torch.float32)[None, :, None] / graph.n_steps
    za, zb = lat[same[:, 0]][:, None], lat[same[:, 1]][:, None]
    return (za + t * (zb - za)).reshape(-1, lat.shape[1]).to(device), int(chart[edges[0, 0]])


def real_input_throughput(
    model: Any, graph: geodesic.GeodesicGraph, n_edges: int, sizes: list[int], device: torch.device, passes: int = 3
) -> dict[str, dict[int, float]]:
    """Points per second of bare ``model.decode`` calls on the build's own interior points (distinct inputs, one
    chart, no packing or norms), by torch threads and batch size, candidates round-robin, median of ``passes``:
    (per wall second, per CPU second)."""
    stream, chart = interior_stream(graph, n_edges, device)
    times: dict[tuple[int, int], list[float]] = {}
    cpu: dict[tuple[int, int], list[float]] = {}
    with torch.no_grad():
        for _ in range(passes):
            for threads in thread_candidates():
                with applied(DecodePolicy(threads=threads, batch_size=1)):
                    for b in sizes:
                        y = torch.full((b,), chart, dtype=torch.int64, device=device)
                        t0, c0 = time.perf_counter(), cpu_seconds()
                        for start in range(0, stream.shape[0], b):
                            z = stream[start : start + b]
                            model.decode(z, y[: z.shape[0]])
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        times.setdefault((threads, b), []).append(time.perf_counter() - t0)
                        cpu.setdefault((threads, b), []).append(cpu_seconds() - c0)
    out: dict[str, dict[int, float]] = {}
    per_cpu: dict[str, dict[int, float]] = {}
    for (threads, b), ts in times.items():
        out.setdefault(str(threads), {})[b] = stream.shape[0] / statistics.median(ts)
        per_cpu.setdefault(str(threads), {})[b] = stream.shape[0] / max(statistics.median(cpu[threads, b]), 1e-9)
    return out, per_cpu


def cpu_seconds() -> float:
    """Process CPU time (all threads), for CPU time beside wall time on a shared machine."""
    return time.process_time()


def per_edge_loop(model: Any, graph: geodesic.GeodesicGraph, n_edges: int, device: torch.device) -> float:
    """Seconds per edge of the naive script: decode the n_steps + 1 points of one edge at a time."""
    native = graph.native
    lat = torch.from_numpy(graph.latents).to(device)
    chart = torch.as_tensor(graph.node_chart).to(device)
    t = torch.linspace(0, 1, graph.n_steps + 1, device=device)[:, None]  # eq. 10: t_i = i / n, i = 0..n
    edges = native.edges[: native.n_intra_edges][:n_edges]
    with torch.no_grad():
        t0 = time.perf_counter()
        for u, v in edges:
            z = lat[u] + t * (lat[v] - lat[u])
            x = model.decode(z, chart[u].repeat(z.shape[0])).reshape(z.shape[0], -1)
            float((x[1:] - x[:-1]).norm(dim=1).sum())
        return (time.perf_counter() - t0) / len(edges)


def main() -> None:
    p = parser("bench_geodesic", __doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=2000, help="data points in the graph (paper: 2000)")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--n-steps", type=int, default=15)
    p.add_argument("--pairs", type=int, default=100, help="random test pairs (paper: 100)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--checkpoint", default=None, help="a trained model (agm train) instead of initial weights")
    p.add_argument("--eps", type=float, default=0.05, help="partition threshold (build_graph's default: 0.05)")
    args = p.parse_args()
    if args.quick:
        args.points, args.k, args.n_steps, args.pairs = 200, 5, 3, 5
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    hidden = 8 if args.quick else 48
    data, source = load_images(args.points + 2 * args.pairs, args.seed)
    model: Any
    if args.checkpoint:
        from agm.training.checkpoint import load_checkpoint

        model, _, _ = load_checkpoint(args.checkpoint, map_location=device)
        model.eval()
    else:
        agm_model = AWAEGAN(8, (1, 28, 28), hidden=hidden).to(device).eval()
        model = AssignedCharts(agm_model, data.shape[0], args.seed).to(device)
        model.remember(data)
    counter = DecodeCounter(model)
    train, queries = data[: args.points], data[args.points :]

    sizes = [16, 64, 256] if args.quick else [16, 64, 256, 1024, 4096]
    throughput: dict[str, dict[int, float]] = {}
    throughput_cpu: dict[str, dict[int, float]] = {}
    for threads in thread_candidates():
        rates, cpu_rates = decode_throughput(model, sizes, 256 if args.quick else 1024, device, threads)
        throughput[str(threads)], throughput_cpu[str(threads)] = rates, cpu_rates
    best_threads, best_batch, best_rate = max(
        ((t, b, r) for t, rates in throughput.items() for b, r in rates.items()), key=lambda c: c[2]
    )
    shown = {t: {b: round(v) for b, v in rates.items()} for t, rates in throughput.items()}
    print(f"decode throughput (points/s, single chart) by threads and batch: {shown}")

    counter.count = 0
    t0, c0 = time.perf_counter(), cpu_seconds()
    graph = geodesic.build_graph(
        model, train, k=args.k, eps=args.eps, n_steps=args.n_steps, device=device, progress=False, weights="eager"
    )
    build_s, build_cpu_s = time.perf_counter() - t0, cpu_seconds() - c0
    build_decoded = counter.count
    minimal = graph.n_nodes + graph.native.n_intra_edges * (args.n_steps - 1)
    limit_s = minimal / best_rate
    limit_cpu_s = minimal / throughput_cpu[best_threads][best_batch]  # CPU seconds of the limit's decodes
    sample = min(graph.native.n_intra_edges, 50 if args.quick else 300)
    loop_s = per_edge_loop(model, graph, sample, device) * graph.native.n_intra_edges + graph.n_nodes / best_rate
    real_sizes = sizes[:3] if args.quick else sizes[:4]
    real, real_cpu = real_input_throughput(model, graph, 30 if args.quick else 60, real_sizes, device)
    real_threads, real_batch, real_rate = max(
        ((t, b, r) for t, rates in real.items() for b, r in rates.items()), key=lambda c: c[2]
    )
    limit_real_s = minimal / real_rate
    limit_real_cpu_s = minimal / real_cpu[real_threads][real_batch]
    stats = graph.stats()
    policy = graph.decode_policy
    print(f"graph: {stats}")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in graph.timings.items() if k != "decoded_points")
    print(
        f"build_graph (eager) {build_s:.2f}s wall, {build_cpu_s:.2f}s CPU (stages {stages}; policy {policy}; "
        f"{build_decoded} points decoded, tuning included)\n"
        f"decoder limit {limit_s:.2f}s for {minimal} decodings at {best_rate:.0f}/s (threads {best_threads}, "
        f"batch {best_batch}; {limit_cpu_s:.2f} CPU s) -> build/limit {build_s / limit_s:.3f}x wall, "
        f"{build_cpu_s / limit_cpu_s:.3f}x CPU\n"
        f"decoder limit on the build's own points (bare calls, distinct inputs: "
        f"{ {t: {b: round(v) for b, v in r.items()} for t, r in real.items()} }) {limit_real_s:.2f}s at "
        f"{real_rate:.0f}/s (threads {real_threads}, batch {real_batch}; {limit_real_cpu_s:.2f} CPU s) -> build/limit "
        f"{build_s / limit_real_s:.3f}x wall, {build_cpu_s / limit_real_cpu_s:.3f}x CPU\n"
        f"per-edge loop (extrapolated from {sample} edges) {loop_s:.2f}s -> loop/build {loop_s / build_s:.2f}x"
    )

    # queries on the prebuilt eager graph: latency of one, batched many, A* vs Dijkstra agreement
    x0, x1 = queries[: args.pairs], queries[args.pairs :]
    single, _ = timeit(lambda: geodesic.shortest_path(model, x0[0], x1[0], graph, device=device), repeats=5)
    counter.count = 0
    geodesic.shortest_path(model, x0[0], x1[0], graph, device=device)
    query_decoded = counter.count
    query_decoded_before = eager_attachment_decodes(model, graph, x0[:1], x1[:1], device)
    t_batch, found = timeit(lambda: geodesic.shortest_paths(model, x0, x1, graph, device=device), repeats=1, warmup=0)
    paths = reached(found)
    dijkstra = reached(geodesic.shortest_paths(model, x0, x1, graph, method="dijkstra", device=device))
    a = np.array([q.length for q in paths])
    b = np.array([q.length for q in dijkstra])
    # float32 decodings in different batches (~1e-7 relative per weight) move path lengths by up to ~1.5e-6
    assert np.allclose(a, b, rtol=2e-6), "A* and Dijkstra disagree"
    chords = []
    for q in paths[:10]:
        d = q.decode()
        chords.append(float((d[0] - d[-1]).norm()))
    assert np.all(a[:10] >= np.array(chords) * (1 - 1e-5)), "a geodesic is shorter than its chord"
    print(
        f"query latency {single.best * 1e3:.1f} ms (one pair; {query_decoded} points decoded, "
        f"{query_decoded_before} with eager attachments), {t_batch.best / args.pairs * 1e3:.1f} ms/pair batched "
        f"({args.pairs} pairs); mean length {a.mean():.3f}, "
        f"charts changed on {np.mean([q.chart_changes.size > 0 for q in paths]):.0%} of paths"
    )

    # lazy weights: the first exact geodesic and all pairs, against the eager graph
    counter.count = 0
    t0, c0 = time.perf_counter(), cpu_seconds()
    lazy = geodesic.build_graph(
        model, train, k=args.k, eps=args.eps, n_steps=args.n_steps, device=device, progress=False, decode_policy=policy
    )
    first = geodesic.shortest_path(model, x0[0], x1[0], lazy, device=device)
    first_s, first_cpu_s, first_decoded = time.perf_counter() - t0, cpu_seconds() - c0, counter.count
    t0 = time.perf_counter()
    lazy_paths = reached(geodesic.shortest_paths(model, x0, x1, lazy, device=device))
    lazy_all_s, lazy_decoded = time.perf_counter() - t0 + first_s, counter.count
    lazy_lengths = np.array([q.length for q in lazy_paths])
    assert np.allclose(lazy_lengths, a, rtol=2e-6), "lazy and eager weights disagree"
    assert abs(first.length - a[0]) <= 2e-6 * a[0], "the first lazy geodesic differs from the eager one"
    eager_first_s = build_s + single.best
    eager_all_s = build_s + t_batch.best
    evaluated = lazy.weights_evaluated
    print(
        f"lazy: first exact geodesic {first_s:.2f}s wall ({first_cpu_s:.2f}s CPU, {first_decoded} decodes) vs eager "
        f"{eager_first_s:.2f}s ({build_decoded + query_decoded} decodes); {args.pairs} pairs {lazy_all_s:.2f}s vs "
        f"{eager_all_s:.2f}s, {lazy_decoded} vs {build_decoded + query_decoded * args.pairs} decodes; "
        f"{evaluated:.1%} of the intra-chart edges evaluated"
    )
    write_json(
        args.out,
        {
            "benchmark": "bench_geodesic",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": environment(),
            "config": {
                **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "data": source,
                "hidden": None if args.checkpoint else hidden,
            },
            "results": {
                "decode_throughput": throughput,
                "limit_threads": best_threads,
                "limit_batch": best_batch,
                "graph": stats,
                "build_s": build_s,
                "build_cpu_s": build_cpu_s,
                "build_decoded": build_decoded,
                "build_timings": graph.timings,
                "chosen_batch_size": graph.decode_policy.batch_size if graph.decode_policy else None,
                "decode_policy": None if policy is None else policy.to_json(),
                "minimal_decodings": minimal,
                "limit_s": limit_s,
                "build_over_limit": build_s / limit_s,
                "limit_cpu_s": limit_cpu_s,
                "build_cpu_over_limit": build_cpu_s / limit_cpu_s,
                "decode_throughput_per_cpu_s": throughput_cpu,
                "real_input_throughput": real,
                "real_input_throughput_per_cpu_s": real_cpu,
                "limit_real_inputs_s": limit_real_s,
                "limit_real_inputs_cpu_s": limit_real_cpu_s,
                "build_over_limit_real_inputs": build_s / limit_real_s,
                "build_cpu_over_limit_real_inputs": build_cpu_s / limit_real_cpu_s,
                "per_edge_loop_s": loop_s,
                "loop_over_build": loop_s / build_s,
                "query_single_s": single.best,
                "query_batched_per_pair_s": t_batch.best / args.pairs,
                "query_decoded": query_decoded,
                "query_decoded_eager_attachments": query_decoded_before,
                "mean_length": float(a.mean()),
                "lazy_first_s": first_s,
                "lazy_first_cpu_s": first_cpu_s,
                "lazy_first_decoded": first_decoded,
                "eager_first_s": eager_first_s,
                "eager_first_decoded": build_decoded + query_decoded,
                "lazy_all_pairs_s": lazy_all_s,
                "eager_all_pairs_s": eager_all_s,
                "lazy_all_pairs_decoded": lazy_decoded,
                "lazy_fraction_evaluated": evaluated,
            },
            "correctness_passed": bool(np.all(np.isfinite(a))),
        },
    )


if __name__ == "__main__":
    main()
