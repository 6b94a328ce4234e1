"""Prototype (issue 19, item 6): node decodes on demand for the first exact geodesic, measured against agm's.

agm's lazy build decodes every node (G_y(F_y(x)) of every data point in every chart with psi > eps) before the
first query, for the edges' chord bounds, the cross-chart weights and the A* heuristic. This prototype decodes a
node only when a search needs it, and keeps the answer exact:

- K is the set of decoded nodes (at the start: the query points' copies and their k attached nodes). Every edge
  with both ends in K has its chord as a lower bound (exact for cross-chart edges and the copies' jumps).
- A round runs a Dijkstra over K (the edges with both ends decoded; scipy) from x0's main copy and gives g_K(u).
  With h(u) = ||G(u) - G(x1's main copy)||, any path of the full graph that leaves K does so at a node u of K whose
  next node is undecoded, and costs at least g_K(u) + h(u) (every weight is at least its chord, so the rest of the
  path is at least the straight line to the goal). So the path found in K (cost f*) is optimal over the whole
  graph once no *boundary* node of K (one with an undecoded neighbour) has g_K(u) + h(u) < f*.
- While such boundary nodes exist, the undecoded neighbours of the ones with the smallest f are decoded, one batch
  (``--round-nodes``) per round. Then LazySP as agm does it: the unevaluated edges of the path found are decoded
  (eq. 10) and the search repeats, until every edge of the path is exact.

The query is agm's: x0 and x1 get a copy in every graph chart with psi > eps (joined to the main copy by the chord
of their decodings), each copy is joined to its k nearest nodes of the chart, and the two copies in a shared chart
are joined directly when either lies within the other's k-th neighbour distance. The oracle: the length equals
``agm.build_graph(weights="lazy")`` + ``shortest_path`` on the same model, data and pair (relative 1e-5).
Peers: "agm" (``node_decodes="build"``), this prototype, "landed" (``node_decodes="on_demand"``) and "auto" (the
default, which times a sample of 32 nodes and chooses).

Setting (issue 19's first-geodesic target): the paper decoder (AWAE-GAN, h = 48, initial weights) with a fixed
sharp partition of unity (bench_geodesic's ``AssignedCharts``), 8 charts, 2,000 MNIST training points (random
images without $AGM_DATA_DIR), k = 20, 15 steps, eps 0.2, one decode policy for both (1 thread, batch 64). The
peers run round-robin in one process; decodes are counted at the decoder; CPU time beside wall time.

Usage: python benchmarks/bench_nodes_on_demand.py [--points 2000] [--pairs 3] [--rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_model, load_average  # noqa: E402
from agm import geodesic  # noqa: E402
from agm._core import AtlasGraph  # noqa: E402
from agm.geodesic._support.evaluating import evaluating  # noqa: E402
from agm.geodesic.graph.curves import PointTable, chord_lengths, decode_points, packed_lengths  # noqa: E402
from agm.geodesic.graph.modes import EncoderNodes, NodeSettings  # noqa: E402
from agm.geodesic.graph.nodes import encode_atlas  # noqa: E402
from agm.geodesic.graph.policy import DecodePolicy, applied  # noqa: E402
from agm.models import AWAEGAN  # noqa: E402
from bench_geodesic import AssignedCharts, DecodeCounter, load_images  # noqa: E402

CURVE, CHORD = 0, 1  # edge kinds: eq. 10 curve length (lazy) / chord of the decodings (exact once both decoded)


@dataclass
class OnDemandGraph:
    """The k-NN atlas graph of the data plus one query's copies, with node decodings filled in on demand.

    Attributes:
        latents: (n, d) float32, graph nodes (native order) then the copies of x0, then of x1.
        charts: (n,) int64 model chart of every node.
        positions: (n, D) float32 decodings (meaningful where ``decoded``).
        decoded: (n,) bool.
        edges: (E, 2) int64 undirected edges; kind: (E,) CURVE / CHORD.
        weight: (E,) float64: exact where ``exact``, the chord (a lower bound) where both ends are decoded.
        exact: (E,) bool.
        source, goal: the main copies of x0 and x1.
    """

    latents: torch.Tensor
    charts: torch.Tensor
    positions: np.ndarray
    decoded: np.ndarray
    edges: np.ndarray
    kind: np.ndarray
    weight: np.ndarray
    exact: np.ndarray
    source: int
    goal: int
    adjacency: sp.csr_matrix  # (n, n) edge id + 1 of every neighbour pair (structure only)
    n_graph: int  # nodes before the query's copies


@dataclass
class Counts:
    rounds: int = 0
    node_rounds: int = 0
    edge_rounds: int = 0
    nodes_decoded: int = 0
    edges_evaluated: int = 0
    search_s: float = 0.0
    decode_nodes_s: float = 0.0
    evaluate_s: float = 0.0


def build_structure(
    model: Any, data: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, k: int, eps: float, batch: int
) -> OnDemandGraph:
    """Encode the data and the two query points, build the k-NN structure (native, no decoding) and the query's
    copies, attachments and direct edges; decode nothing."""
    dev = torch.device("cpu")
    nodes, _ = EncoderNodes().build(model, data, NodeSettings(eps, k, batch, dev, False, False))
    native = AtlasGraph(list(nodes.latents), list(nodes.point_ids), k)
    model_chart = np.asarray(nodes.charts, dtype=np.int64)[native.node_chart]
    n_graph = native.n_nodes
    latents = [np.concatenate(nodes.latents)]
    charts = [model_chart]
    edges = [native.edges]
    kinds = [np.where(np.arange(native.n_edges) < native.n_intra_edges, CURVE, CHORD)]
    psi, z = encode_atlas(model, torch.stack([x0, x1]), batch, dev)
    kept = {c: i for i, c in enumerate(nodes.charts)}
    n = n_graph
    copies: list[dict[int, tuple[int, float]]] = []
    mains = []
    for b in range(2):
        main = int(psi[b].argmax())
        own = [main] + [c for c in nodes.charts if c != main and float(psi[b, c]) > eps]
        mine: dict[int, tuple[int, float]] = {}
        for c in own:
            if c not in kept:
                continue
            ids, dist = native.chart_index(kept[c]).query(np.ascontiguousarray(z[b, c][None].numpy()), k)
            node = n
            n += 1
            latents.append(z[b, c][None].numpy())
            charts.append(np.array([c]))
            edges.append(np.stack([np.full(k, node), ids[0] + native.chart_offsets[kept[c]]], axis=1))
            kinds.append(np.full(k, CURVE))
            mine[c] = (node, float(dist[0, -1]))
        if main not in mine:
            raise SystemExit(f"query {b}'s main chart {main} is not in the graph")
        for c, (node, _) in mine.items():
            if c != main:
                edges.append(np.array([[mine[main][0], node]]))
                kinds.append(np.array([CHORD]))
        copies.append(mine)
        mains.append(mine[main][0])
    for c in set(copies[0]) & set(copies[1]):
        (a, reach_a), (b, reach_b) = copies[0][c], copies[1][c]
        if float(torch.linalg.vector_norm(z[0, c] - z[1, c])) <= max(reach_a, reach_b):
            edges.append(np.array([[a, b]]))
            kinds.append(np.array([CURVE]))
    all_edges = np.concatenate(edges).astype(np.int64)
    e = all_edges.shape[0]
    ids = np.arange(1, e + 1, dtype=np.float64)
    adjacency = sp.coo_matrix(
        (np.concatenate([ids, ids]), (np.concatenate(all_edges.T[[0, 1]]), np.concatenate(all_edges.T[[1, 0]]))),
        shape=(n, n),
    ).tocsr()
    lat = torch.from_numpy(np.ascontiguousarray(np.concatenate(latents), dtype=np.float32))
    D = int(np.prod(data.shape[1:]))
    return OnDemandGraph(
        latents=lat,
        charts=torch.from_numpy(np.concatenate(charts).astype(np.int64)),
        positions=np.zeros((n, D), dtype=np.float32),
        decoded=np.zeros(n, dtype=bool),
        edges=all_edges,
        kind=np.concatenate(kinds).astype(np.int8),
        weight=np.zeros(e, dtype=np.float64),
        exact=np.zeros(e, dtype=bool),
        source=mains[0],
        goal=mains[1],
        adjacency=adjacency,
        n_graph=n_graph,
    )


def decode_nodes(model: Any, g: OnDemandGraph, ids: np.ndarray, batch: int) -> None:
    """Decode nodes ``ids`` and give every edge whose ends are now both decoded its chord."""
    ids = ids[~g.decoded[ids]]
    if ids.size == 0:
        return
    sel = torch.from_numpy(ids)
    g.positions[ids] = decode_points(model.decode, g.latents[sel], g.charts[sel], batch, torch.device("cpu")).numpy()
    g.decoded[ids] = True
    touched = np.unique(g.adjacency[ids].data.astype(np.int64) - 1)
    ready = touched[g.decoded[g.edges[touched, 0]] & g.decoded[g.edges[touched, 1]] & ~g.exact[touched]]
    a, b = torch.from_numpy(g.positions[g.edges[ready, 0]]), torch.from_numpy(g.positions[g.edges[ready, 1]])
    g.weight[ready] = chord_lengths(a, b).numpy()
    g.exact[ready] = g.kind[ready] == CHORD


def evaluate_edges(model: Any, g: OnDemandGraph, ids: np.ndarray, n_steps: int, batch: int) -> None:
    """Decode the curve lengths (eq. 10) of edges ``ids`` (both ends decoded)."""
    table = PointTable(g.latents, torch.from_numpy(g.positions), g.charts)
    order = np.argsort(g.charts[torch.from_numpy(g.edges[ids, 0])].numpy(), kind="stable")  # single-chart calls
    ids = ids[order]
    g.weight[ids] = packed_lengths(model.decode, table, torch.from_numpy(g.edges[ids]), n_steps, batch).numpy()
    g.exact[ids] = True


def search_known(g: OnDemandGraph) -> tuple[np.ndarray, np.ndarray]:
    """Dijkstra from the source over the edges with both ends decoded: distances (n,) and predecessors (n,)."""
    known = g.decoded[g.edges[:, 0]] & g.decoded[g.edges[:, 1]]
    e = g.edges[known]
    w = np.maximum(g.weight[known], 1e-300)  # scipy drops explicit zeros; d(x, x) = 0 edges stay edges
    n = g.decoded.size
    m = sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]]))), shape=(n, n)
    )
    dist, pred = dijkstra(m.tocsr(), indices=g.source, return_predecessors=True)
    return dist, pred


def boundary_nodes(g: OnDemandGraph, dist: np.ndarray, f_star: float) -> tuple[np.ndarray, np.ndarray]:
    """Decoded nodes reached by the search that have an undecoded neighbour and g + h < f*, by increasing f,
    with their f."""
    reached = np.flatnonzero(np.isfinite(dist) & g.decoded)
    h = np.linalg.norm(g.positions[reached] - g.positions[g.goal], axis=1).astype(np.float64)
    f = dist[reached] + h
    keep = f < f_star
    reached, f = reached[keep], f[keep]
    open_ = np.array([not g.decoded[g.adjacency[u].indices].all() for u in reached], dtype=bool)
    reached, f = reached[open_], f[open_]
    order = np.argsort(f, kind="stable")
    return reached[order], f[order]


def path_edges(g: OnDemandGraph, pred: np.ndarray) -> np.ndarray:
    """Edge ids of the path from the source to the goal (predecessor walk)."""
    out = []
    v = g.goal
    while v != g.source:
        u = int(pred[v])
        out.append(int(g.adjacency[u, v]) - 1)
        v = u
    return np.asarray(out[::-1], dtype=np.int64)


def first_geodesic(model: Any, g: OnDemandGraph, n_steps: int, batch: int, round_nodes: int) -> tuple[float, Counts]:
    """The exact shortest path length from x0 to x1, decoding nodes and edges as the search needs them."""
    counts = Counts()
    t0 = time.process_time()
    copies = np.arange(g.n_graph, g.decoded.size)  # the query's copies and the nodes they are attached to
    attached = np.unique(g.adjacency[copies].indices)
    decode_nodes(model, g, np.unique(np.concatenate([copies, attached])), batch)
    counts.decode_nodes_s += time.process_time() - t0
    while True:
        counts.rounds += 1
        t0 = time.process_time()
        dist, pred = search_known(g)
        f_star = float(dist[g.goal])
        boundary, _ = boundary_nodes(g, dist, f_star)
        counts.search_s += time.process_time() - t0
        if boundary.size:
            t0 = time.process_time()
            wanted: list[int] = []
            for u in boundary:
                nb = g.adjacency[u].indices
                wanted.extend(int(v) for v in nb[~g.decoded[nb]])
                if len(set(wanted)) >= round_nodes:
                    break
            ids = np.unique(np.asarray(wanted, dtype=np.int64))
            decode_nodes(model, g, ids, batch)
            counts.node_rounds += 1
            counts.nodes_decoded += ids.size
            counts.decode_nodes_s += time.process_time() - t0
            continue
        if not np.isfinite(f_star):
            return float("inf"), counts
        edges = path_edges(g, pred)
        pending = edges[~g.exact[edges]]
        if pending.size == 0:
            return float(g.weight[edges].sum()), counts
        t0 = time.process_time()
        evaluate_edges(model, g, pending, n_steps, batch)
        counts.edge_rounds += 1
        counts.edges_evaluated += pending.size
        counts.evaluate_s += time.process_time() - t0


def run_on_demand(
    model: Any, counter: DecodeCounter, data: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, args: Any
) -> dict[str, Any]:
    counter.count = 0
    w0, c0 = time.perf_counter(), time.process_time()
    with evaluating(model), applied(DecodePolicy(threads=1, batch_size=args.batch)):
        g = build_structure(model, data, x0, x1, args.k, args.eps, args.batch)
        structure_cpu = time.process_time() - c0
        length, counts = first_geodesic(model, g, args.n_steps, args.batch, args.round_nodes)
    return {
        "length": length,
        "wall_s": time.perf_counter() - w0,
        "cpu_s": time.process_time() - c0,
        "structure_cpu_s": structure_cpu,
        "decodes": counter.count,
        "nodes_total": int(g.decoded.size),
        "nodes_decoded": int(g.decoded.sum()),
        **vars(counts),
    }


def run_agm(
    model: Any,
    counter: DecodeCounter,
    data: torch.Tensor,
    x0: torch.Tensor,
    x1: torch.Tensor,
    args: Any,
    node_decodes: str = "build",
) -> dict[str, Any]:
    """The package's ``build_graph(node_decodes=...)`` + ``shortest_path`` ("build": every node decoded at build
    time; "on_demand": the landed option; "auto": the default, which times a sample and chooses)."""
    counter.count = 0
    w0, c0 = time.perf_counter(), time.process_time()
    policy = DecodePolicy(threads=1, batch_size=args.batch)
    graph = geodesic.build_graph(
        model,
        data,
        k=args.k,
        eps=args.eps,
        n_steps=args.n_steps,
        progress=False,
        decode_policy=policy,
        node_decodes=node_decodes,  # type: ignore[arg-type]
    )
    build_decodes = counter.count
    path = graph.shortest_path(x0, x1, decode_policy=policy, switch_tolerance=0.0)
    pending = graph.record.pending_nodes
    return {
        "length": float(path.length),
        "wall_s": time.perf_counter() - w0,
        "cpu_s": time.process_time() - c0,
        "decodes": counter.count,
        "build_decodes": build_decodes,
        "nodes_total": graph.n_nodes,
        "nodes_decoded": graph.n_nodes if pending is None else int(pending.decoded.sum()),
        "timings": dict(graph.timings),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=2000)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2, help="round-robin rounds over the pairs")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--n-steps", type=int, default=15)
    p.add_argument("--eps", type=float, default=0.2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--round-nodes", type=int, default=64, help="undecoded nodes decoded per round (at least)")
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="300 points, h = 8, k = 5, 3 steps")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.quick:
        args.points, args.hidden, args.k, args.n_steps, args.pairs, args.rounds = 300, 8, 5, 3, 6, 1
    torch.set_num_threads(1)
    data, source = load_images(args.points + 2 * args.pairs, args.seed)
    torch.manual_seed(args.seed)
    inner = AWAEGAN(8, (1, 28, 28), hidden=args.hidden).eval()
    model = AssignedCharts(inner, data.shape[0], args.seed).eval()
    model.remember(data)
    counter = DecodeCounter(model)
    train = data[: args.points]
    x0s, x1s = data[args.points : args.points + args.pairs], data[args.points + args.pairs :]
    print(f"{cpu_model()}; load {load_average()}; data {source}; {args.points} points, h = {args.hidden}", flush=True)
    rows = []
    for r in range(args.rounds):
        for i in range(args.pairs):
            landed = partial(run_agm, node_decodes="on_demand")
            auto = partial(run_agm, node_decodes="auto")
            peers = (("agm", run_agm), ("on_demand", run_on_demand), ("landed", landed), ("auto", auto))
            for name, fn in peers:
                out = fn(model, counter, train, x0s[i], x1s[i], args)
                out.update(peer=name, pair=i, round=r, load=load_average())
                rows.append(out)
                print(
                    json.dumps(
                        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items() if k != "timings"}
                    ),
                    flush=True,
                )
    all_equal = True
    for i in range(args.pairs):
        a = [x for x in rows if x["pair"] == i and x["peer"] == "agm"]
        for peer in ("on_demand", "landed", "auto"):
            o = [x for x in rows if x["pair"] == i and x["peer"] == peer]
            rel = abs(a[0]["length"] - o[0]["length"]) / max(a[0]["length"], 1e-12)
            ok = rel <= 1e-5 or abs(a[0]["length"] - o[0]["length"]) <= 1e-6  # float32 decodings, absolute floor
            all_equal &= ok
            cpu_o, cpu_a = np.median([x["cpu_s"] for x in o]), np.median([x["cpu_s"] for x in a])
            wall_o, wall_a = np.median([x["wall_s"] for x in o]), np.median([x["wall_s"] for x in a])
            print(
                f"pair {i} {peer}: length agm {a[0]['length']:.6f} {peer} {o[0]['length']:.6f} "
                f"(rel {rel:.1e}, {'equal' if ok else 'DIFFERENT'}); "
                f"decodes {o[0]['decodes']} / {a[0]['decodes']} = {o[0]['decodes'] / a[0]['decodes']:.3f}x; "
                f"CPU {cpu_o:.2f} / {cpu_a:.2f} s = {cpu_o / cpu_a:.3f}x; wall {wall_o / wall_a:.3f}x",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "rows": rows, "equal": all_equal}, indent=1, default=str))
    return 0 if all_equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
