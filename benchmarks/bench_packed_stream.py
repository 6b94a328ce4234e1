"""The packed edge stream's own cost: ``packed_lengths`` against plain decoder calls of the same batch.

An eager build decodes n_steps - 1 interior points per intra-chart edge in packed calls
(``agm.geodesic.graph.curves.packed_lengths``): besides the decoder, each call interpolates the latents and sums
the polyline pieces. This script times that stream over random same-chart edges against ``model.decode`` on as many
points in calls of the same size, peers in turn (``--repeats`` rounds, medians), for torch's 1 and 2 threads; the
ratio stream / plain is the stream's overhead. Model: an AWAE-GAN with MLP networks (4 charts, d = 7, hidden 256,
data (784,), initial weights), the cheap decoder of ``bench_build_limit.py``, where the overhead shows most.
Correctness: the stream's lengths at every batch equal its lengths at one large batch (rtol 1e-5, atol 1e-6), else
exit 1. Another version of agm: put its site first on PYTHONPATH (``packed_lengths`` has kept its signature).

Usage: python benchmarks/bench_packed_stream.py [--batches 256,1024] [--edges 3000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, write_json  # noqa: E402
from agm.geodesic.graph.curves import PointTable, packed_lengths  # noqa: E402
from agm.models.registry import build_model  # noqa: E402

N_STEPS = 15


def timed(fn: Any) -> tuple[float, float]:
    """(wall, CPU) seconds of one call of ``fn``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def run(model: Any, table: PointTable, ends: torch.Tensor, batch: int, repeats: int) -> dict[str, Any]:
    """Stream and plain calls in turn, ``repeats`` rounds; medians and the stream's lengths."""
    n_points = ends.shape[0] * (N_STEPS - 1)
    z = torch.randn(batch, table.latents.shape[1], generator=torch.Generator().manual_seed(batch))
    y = torch.zeros(batch, dtype=torch.int64)
    stream_times, plain_times = [], []
    lengths = torch.zeros(0)

    def stream() -> None:
        nonlocal lengths
        lengths = packed_lengths(model.decode, table, ends, N_STEPS, batch)

    def plain() -> None:
        for _ in range(-(-n_points // batch)):
            model.decode(z, y)

    for _ in range(repeats):
        stream_times.append(timed(stream))
        plain_times.append(timed(plain))
    wall = statistics.median(t[0] for t in stream_times), statistics.median(t[0] for t in plain_times)
    cpu = statistics.median(t[1] for t in stream_times), statistics.median(t[1] for t in plain_times)
    return {
        "batch": batch,
        "threads": torch.get_num_threads(),
        "stream_wall_s": wall[0],
        "plain_wall_s": wall[1],
        "stream_cpu_s": cpu[0],
        "plain_cpu_s": cpu[1],
        "wall_ratio": wall[0] / wall[1],
        "cpu_ratio": cpu[0] / cpu[1],
        "lengths": lengths,
    }


def main() -> int:
    p = parser("bench_packed_stream", __doc__.split("\n\n")[0])
    p.add_argument("--batches", default="256,1024")
    p.add_argument("--edges", type=int, default=3000)
    args = p.parse_args()
    batches = [64] if args.quick else [int(b) for b in args.batches.split(",")]
    n_edges, repeats = (200, 1) if args.quick else (args.edges, args.repeats or 5)
    torch.manual_seed(args.seed)
    model = build_model("awae", 4, (784,), hidden=(32 if args.quick else 256)).eval()
    g = torch.Generator().manual_seed(args.seed)
    n_nodes = 2000
    latents = torch.randn(n_nodes, 7, generator=g)
    charts = torch.zeros(n_nodes, dtype=torch.int64)
    rows, ok = [], True
    before = torch.get_num_threads()
    with torch.no_grad():
        table = PointTable(latents, model.decode(latents, charts).reshape(n_nodes, -1), charts)
        ends = torch.randint(0, n_nodes, (n_edges, 2), generator=g)
        want = packed_lengths(model.decode, table, ends, N_STEPS, 1 << 16)
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                for batch in batches:
                    row = run(model, table, ends, batch, repeats)
                    same = torch.allclose(row.pop("lengths"), want, rtol=1e-5, atol=1e-6)
                    ok &= same
                    row.update(load=load_average(), lengths_equal=same)
                    rows.append(row)
                    print(
                        f"{threads} thread(s), batch {batch}: stream / plain {row['wall_ratio']:.3f}x wall, "
                        f"{row['cpu_ratio']:.3f}x CPU ({row['stream_cpu_s']:.2f} / {row['plain_cpu_s']:.2f} s CPU); "
                        f"lengths {'equal' if same else 'DIFFERENT'}; load {row['load']}",
                        flush=True,
                    )
        finally:
            torch.set_num_threads(before)
    payload = {
        "benchmark": "bench_packed_stream",
        "mode": "quick" if args.quick else "full",
        "environment": environment(),
        "agm": str(Path(sys.modules["agm"].__file__ or "").parent),
        "rows": rows,
        "correctness_passed": ok,
    }
    write_json(Path(args.out), payload)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
