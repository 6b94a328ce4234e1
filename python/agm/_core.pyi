"""Type stub of the compiled native core ``agm._core`` (C++17, pybind11, nanoflann).

Hand-written and checked against the binary by ``mypy.stubtest`` (tests/test_stubs.py).

Dtype policy: latent points are float32 or float64 and are never converted; queries must have the index's dtype.
Node ids, edges and offsets are int64. Weights, costs and distances are float64. Decoded positions for the A*
heuristic are float32 or float64. Every array argument must be C-contiguous and aligned to its dtype (TypeError
for an unaligned view such as ``np.frombuffer(buf, offset=1)``); nothing is silently converted. Index, offset and
cost arrays are copied before the GIL is released, so another thread that changes them during a call cannot make
the core read anything but the values it checked.

Thread safety: every method may be called from several threads at once. ``set_weights``/``update_weights``/
``set_positions`` swap immutable blocks (one writer at a time); a concurrent reader (``weights``, ``csr``,
``save``, searches, ...) sees either the old or the new values, never a mix. ``n_threads`` is clamped to
``hardware_threads()`` and to the work.
"""

from typing import Literal

import numpy as np
from numpy.typing import NDArray

__version__: str

_FloatArray = NDArray[np.float32] | NDArray[np.float64]

class UnreachableError(ValueError):
    """The target cannot be reached from the source: they lie in different connected components."""

def hardware_threads() -> int:
    """Number of hardware threads the core uses when ``n_threads=0``."""

def curve_energy(
    x: NDArray[np.float32], order: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float32]]:
    """The discrete energy of many decoded polylines at once (refinement of geodesics): polyline b visits the rows
    order[b, 0], ..., order[b, M - 1] of x; its edges are the float32 differences x[order[b, e + 1]] -
    x[order[b, e]] (a held vertex, the same row twice, gives a zero edge).

    Args:
        x: (R, D) float32 decoded rows.  order: (B, M) int64 rows in [0, R), M >= 1.  weight: (B, M - 1) float64
            finite energy weight of every edge.

    Non-finite entries of x are not refused: they give non-finite energies (a refused line-search trial).

    Returns:
        (energy, length, upstream): (B,) float64 sum_e weight[b, e] |edge|^2, (B,) float64 sum_e |edge| (summed in
        float64), and (R, D) float32 the energy's derivative by every row (accumulated in float64).

    Raises:
        ValueError: shapes that do not fit, non-finite weights.  IndexError: a row outside [0, R).
        TypeError: an array of another dtype.
    """

def curve_step(
    jt: NDArray[np.float64],
    gradient: NDArray[np.float64],
    free: NDArray[np.int64],
    start: NDArray[np.int64],
    diag_weight: NDArray[np.float64],
    off_weight: NDArray[np.float64],
    moved: NDArray[np.float64] | None = None,
    change: NDArray[np.float64] | None = None,
    damping: float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """The Gauss-Newton step -H^-1 g of many discrete curves at once (refinement of geodesics): one block Cholesky
    per curve of its block-tridiagonal matrix, diagonal blocks diag_weight[f] J_f^T J_f + level I (level = damping
    times the curve's mean diagonal), upper blocks off_weight[f] J_f^T J_(f+1) between consecutive free points of one
    curve; with ``moved`` and ``change`` (s, y) updated by BFGS along s per curve (where s.y > 0).

    Args:
        jt: (P, d, D) float64 J^T of every point.  gradient: (P, d) float64.  free: (F,) int64 rows of jt, curve
            after curve.  start: (C,) int64 each curve's first free point (0 first, strictly increasing, < F).
        diag_weight: (F,) float64.  off_weight: (F - 1,) float64.  moved, change: (F, d) float64 each, or None.
        damping: >= 0.

    Non-finite entries of jt, gradient, moved or change give non-finite steps in their own curve only.

    Returns:
        (step (F, d) float64, move (F,) float64 |J_f step_f|, positive_definite): False where some curve's matrix
        was not positive definite in floating point (then the step is incomplete: take another solver).

    Raises:
        ValueError: shapes that do not fit, a bad ``start``, non-finite weights or damping.
        IndexError: a free point outside [0, P).  TypeError: an array of another dtype.
    """

def hop_diameter(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    method: Literal["auto", "ifub", "bounds"] = "auto",
    n_threads: int = 0,
) -> tuple[int, int]:
    """Exact hop diameter of an undirected graph given as CSR arrays: the largest finite BFS distance over all
    connected components (0 without edges).

    Args:
        indptr: (N + 1,) int64, starts at 0, non-decreasing, ends at len(indices).
        indices: (E,) int64 neighbour ids in [0, N); the adjacency must be symmetric.
        method: "auto" (what AtlasGraph.diameter_hops uses: "bounds" on the graph renumbered in BFS order),
            "bounds" (eccentricity bounds, Takes & Kosters 2011, on the ids as given) or "ifub" (iFUB with a
            4-sweep start). All three are exact.
        n_threads: threads for the parallel BFS, 0 = all hardware threads.

    Returns:
        (diameter, n_bfs): the diameter and the number of breadth-first searches run ("auto" counts its
        renumbering traversal as one).

    Raises:
        ValueError: a malformed or asymmetric CSR (naming the array and value), a bad method or n_threads < 0.
        TypeError: indptr or indices not int64.
    """

def hop_diameter_bounds(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], max_bfs: int, n_threads: int = 0
) -> tuple[int, int, int]:
    """Bounds of the hop diameter from at most ``max_bfs`` breadth-first searches: the "auto" method of
    ``hop_diameter`` (eccentricity bounds on the graph renumbered in BFS order), stopped when its budget is spent.

    Args:
        indptr, indices: as for ``hop_diameter``.
        max_bfs: the budget (the renumbering traversal not counted); 0 = no limit (the exact diameter).
        n_threads: threads for the parallel BFS, 0 = all hardware threads.

    Returns:
        (lower, upper, n_bfs): lower <= diameter <= upper, equal when the bounds met within the budget; n_bfs
        counts the renumbering traversal as one, as ``hop_diameter`` does.

    Raises:
        ValueError: a malformed or asymmetric CSR, max_bfs < 0 or n_threads < 0.  TypeError: not int64.
    """

class ChartIndex:
    """A nanoflann k-d tree over the latent points of one chart.

    The points are copied into the index (row-major), so the caller's array may be freed or mutated afterwards.
    """

    def __init__(self, points: _FloatArray, leaf_size: int = 16) -> None:
        """Build the tree.

        Args:
            points: (N, d) float32 or float64, C-contiguous, finite, N >= 1, d >= 1, with coordinates of
                magnitude <= sqrt(max / d) / 4, max the dtype's largest value (FLT_MAX or DBL_MAX; ValueError
                otherwise: squared distances would overflow the dtype).
            leaf_size: maximum points per leaf, >= 1.
        """
    @property
    def n_points(self) -> int:
        """Number of indexed points N."""
    @property
    def dim(self) -> int:
        """Dimension d of the points."""
    @property
    def dtype(self) -> np.dtype[np.float32] | np.dtype[np.float64]:
        """The points' dtype (float32 or float64)."""
    def query(
        self, queries: _FloatArray, k: int, n_threads: int = 0, order: Literal["auto", "leaf", "input"] = "auto"
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """k nearest indexed points of each query.

        Args:
            queries: (Q, d), the index's dtype (TypeError otherwise), C-contiguous, finite, within the points'
                magnitude limit.
            k: 1 <= k <= n_points.
            n_threads: worker threads; 0 means all hardware threads. The GIL is released.
            order: the order in which the queries are visited; it never changes the results, which are always in
                input order. "leaf": sorted by the tree leaf each query falls in, so consecutive queries touch the
                same leaves (cheaper when the cache is contended); "input": as given (already sorted queries);
                "auto": "leaf" for batches of at least 1024 queries. ValueError for another value.

        Returns:
            ids (Q, k) int64 and distances (Q, k) float64, sorted by increasing distance, ties by id. Distances are
            true Euclidean distances, re-measured in float64 for the selected ids.
        """
    def query_self(self, k: int, n_threads: int = 0) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """k nearest neighbours of every indexed point, the point itself excluded.

        Args:
            k: 1 <= k < n_points.

        Returns:
            ids (N, k) int64 and distances (N, k) float64 (true Euclidean), row i for point i.
        """

class AtlasGraph:
    """The multi-chart graph of Algorithm 1.

    Nodes are numbered globally, chart after chart: the nodes of chart c are
    ``chart_offsets[c] .. chart_offsets[c+1]-1`` in the order of that chart's points. Each node knows its chart,
    the index of its source data point and its latent coordinates.

    Candidate edges (undirected, each listed once with u < v): first, chart after chart, the de-duplicated k-NN
    edges inside each chart; then the cross-chart edges joining every pair of nodes that share a data point.

    Structure and values: the construction builds everything that does not depend on the weights, once and
    immutable (the k-d trees, the edges, the CSR adjacency, the connected components). The values are one
    immutable block of float64 edge weights and decoded positions (the A* heuristic), replaced whole by the only
    three mutations: ``set_weights`` (every edge), ``update_weights`` (some edges: lazy evaluation) and
    ``set_positions``. A reader (search, ``weights``, ``csr``, ``save``) takes the current block once and reads
    only it. Searching before ``set_weights`` raises ValueError.
    """

    def __init__(
        self,
        latents: list[_FloatArray],
        point_ids: list[NDArray[np.int64]],
        k: int,
        n_threads: int = 0,
    ) -> None:
        """Build the per-chart k-d trees and the candidate edges.

        Args:
            latents: one (N_c, d) array per chart; same d and dtype for all charts; N_c > k (ValueError if a chart
                is empty or has k or fewer points).
            point_ids: one (N_c,) int64 array per chart: the data-point index of every node, >= 0, unique within a
                chart.
            k: neighbours per node inside its chart, k >= 1.
            n_threads: 0 means all hardware threads.
        """
    # --- structure ---------------------------------------------------------------------------------------
    @property
    def n_charts(self) -> int:
        """Number of charts."""
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
    @property
    def k(self) -> int:
        """Neighbours per node inside its chart."""
    @property
    def latent_dim(self) -> int:
        """Latent dimension d."""
    @property
    def chart_offsets(self) -> NDArray[np.int64]:
        """(n_charts + 1,) int64: the first global node id of each chart, then n_nodes."""
    @property
    def node_chart(self) -> NDArray[np.int64]:
        """(n_nodes,) int64: the chart of each node."""
    @property
    def node_point(self) -> NDArray[np.int64]:
        """(n_nodes,) int64: the data-point index of each node."""
    @property
    def latents(self) -> _FloatArray:
        """(n_nodes, d): the latent coordinates of each node in its chart (the dtype given at construction)."""
    @property
    def edges(self) -> NDArray[np.int64]:
        """(n_edges, 2) int64: the candidate edges, u < v, intra-chart edges first (chart by chart), each part
        sorted by (u, v); replayed from the CSR (the graph does not store the list)."""
    @property
    def n_edges(self) -> int:
        """Number of candidate edges."""
    @property
    def n_intra_edges(self) -> int:
        """The first n_intra_edges rows of ``edges`` join nodes of one chart; the rest are cross-chart edges."""
    def chart_index(self, chart: int) -> ChartIndex:
        """The k-d tree of one chart (a shared reference, not a copy); IndexError for a bad chart."""
    # --- weights and positions ---------------------------------------------------------------------------
    def set_weights(self, weights: NDArray[np.float64]) -> None:
        """Set the weight of every candidate edge (a new values block; the positions are kept).

        Args:
            weights: (n_edges,) float64, finite, >= 0, in the order of ``edges``.
        """
    def update_weights(self, edge_ids: NDArray[np.int64], weights: NDArray[np.float64]) -> None:
        """Change the weights of some candidate edges (lazy evaluation): edge ``edge_ids[i]`` gets ``weights[i]``.

        Like ``set_weights`` it swaps in a new immutable block (concurrent readers keep the one they hold), but
        it touches only these edges, and the A* consistency verdict of the previous block, once computed, is
        re-checked at these edges only (O(n * D), not O(n_edges * D)).

        Args:
            edge_ids: (n,) int64, unique, in [0, n_edges) (IndexError naming the value otherwise); intra- and
                cross-chart edges alike.
            weights: (n,) float64, finite, >= 0.

        Raises:
            ValueError: repeated edge ids, a bad weight, different lengths, or no ``set_weights`` before.
        """
    @property
    def has_weights(self) -> bool:
        """Whether set_weights was called."""
    @property
    def weights(self) -> NDArray[np.float64]:
        """(n_edges,) float64, in the order of ``edges`` (ValueError before ``set_weights``)."""
    def set_positions(self, positions: _FloatArray) -> None:
        """Decoded positions P (n_nodes, D), float32 or float64, finite: the A* heuristic is ||P[v] - goal||."""
    @property
    def has_positions(self) -> bool:
        """Whether positions are set."""
    @property
    def positions(self) -> _FloatArray:
        """(n_nodes, D) decoded positions (ValueError when none were set)."""
    def csr(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """The symmetric adjacency as (indptr (n_nodes+1,), indices (2 n_edges,), data (2 n_edges,)) copies,
        directly usable as ``scipy.sparse.csr_array((data, indices, indptr))``."""
    # --- components and statistics -----------------------------------------------------------------------
    @property
    def component(self) -> NDArray[np.int64]:
        """(n_nodes,) int64: connected-component label of each node, labels 0..n_components-1 by first node."""
    @property
    def component_sizes(self) -> NDArray[np.int64]:
        """(n_components,) int64."""
    def diameter_hops(self, n_threads: int = 0) -> int:
        """Exact diameter in hops: the largest BFS eccentricity over all nodes (within their component).

        Computed with eccentricity bounds (Takes & Kosters 2011), which needs far fewer BFS than one per node;
        cached after the first call."""
    def diameter_bounds(self, max_bfs: int, n_threads: int = 0) -> tuple[int, int, int]:
        """Bounds of the hop diameter from at most ``max_bfs`` BFS (0: no limit, the exact diameter).

        Returns (lower, upper, n_bfs) with lower <= diameter <= upper, equal when exact. An exact result is cached
        (as by ``diameter_hops``); once cached every call returns it with n_bfs = 0."""
    @property
    def default_diameter_budget(self) -> int:
        """The BFS budget of ``stats(diameter="auto")``: max(8, 3e7 / CSR entries), about 3e7 edge visits."""
    def stats(self, n_threads: int = 0, diameter: Literal["auto", "exact"] = "auto") -> dict[str, int]:
        """Table-1 statistics: n_nodes, n_edges, n_intra_edges, n_cross_edges, n_components, largest_component,
        diameter_lower and diameter_upper, and diameter_hops (the exact hop diameter) when the two bounds are equal.

        diameter: "auto" bounds the diameter with ``default_diameter_budget`` BFS, which is exact for graphs of the
        paper's size and for most k-NN graphs, and returns bounds only for large graphs where nearly every node's
        eccentricity is close to the diameter (there the exact value would cost more than building the graph);
        "exact" computes it whatever it costs. An exact diameter is cached."""
    def workspace_bytes(self) -> int:
        """Bytes held by the pooled per-thread search workspaces (kept for reuse; at most ``hardware_threads()``
        of them, each about 40 bytes per node)."""
    def memory_bytes(self) -> int:
        """Bytes held by the graph's arrays (latents, node arrays, CSR with its edge-id map, weights, components,
        positions; the k-d trees excluded). The edge list is not stored: 29-30 bytes per edge with k = 20, d = 7 and
        float64 weights, positions excluded."""
    # --- search ------------------------------------------------------------------------------------------
    def shortest_path(
        self, source: int, target: int, method: Literal["astar", "dijkstra"] = "astar"
    ) -> tuple[NDArray[np.int64], float]:
        """Point-to-point search between two graph nodes, with early exit.

        "astar" uses h(v) = ||P[v] - P[target]|| and needs ``set_positions``; "dijkstra" uses h = 0. Internally h
        is scaled by 1 - 2^-16 (float32 positions) or 1 - 2^-40 (float64) and closed nodes are reopened, so rounding
        in float32 positions or weights cannot make the result differ from Dijkstra's.

        Precondition of "astar" (checked on the first A* search after set_weights/set_positions,
        O(n_edges * D); update_weights re-checks only the edges it changes): the heuristic is
        consistent, every edge weight w(u, v) >= ||P[u] - P[v]|| up to that scale and the rounding of the
        positions' dtype. Otherwise ValueError names the worst edge (use method="dijkstra").

        Returns:
            path (L,) int64 from source to target inclusive, and its cost (float). source == target gives
            ([source], 0.0).

        Raises:
            IndexError: source or target out of range.
            UnreachableError: different components; the message names both components and their sizes.
        """
    def shortest_paths(
        self,
        sources: NDArray[np.int64],
        targets: NDArray[np.int64],
        method: Literal["astar", "dijkstra"] = "astar",
        n_threads: int = 0,
        raise_unreachable: bool = True,
    ) -> tuple[list[NDArray[np.int64]], NDArray[np.float64]]:
        """Many (source, target) node pairs in one call, spread over threads with the GIL released.

        Args:
            sources, targets: (B,) int64.
            raise_unreachable: if False an unreachable pair gets cost inf and an empty path.

        Returns:
            B paths and costs (B,) float64, equal to B calls of ``shortest_path``.
        """
    def search(
        self,
        source_nodes: NDArray[np.int64],
        source_costs: NDArray[np.float64],
        target_nodes: NDArray[np.int64],
        target_costs: NDArray[np.float64],
        goals: _FloatArray | None = None,
        method: Literal["astar", "dijkstra"] = "astar",
    ) -> tuple[NDArray[np.int64], float]:
        """Search between two query points that are not graph nodes, without mutating the graph.

        The source is a virtual node with an edge of cost ``source_costs[i]`` to ``source_nodes[i]``; the target
        a virtual node reached from ``target_nodes[j]`` at cost ``target_costs[j]``. Repeated nodes are allowed
        (the cheapest attachment counts). With "astar" the heuristic is h(v) = min_g ||P[v] - goals[g]||: pass
        the decoded positions of the target's attachments (goals (G, D), the positions' dtype). Precondition of
        "astar", checked: the edges are consistent (see ``shortest_path``) and
        ``target_costs[j] >= min_g ||P[target_nodes[j]] - goals[g]||`` (ValueError naming target_costs and j).

        Returns:
            path (L,) int64 of graph nodes from the first node entered to the last node left, and the total
            cost including both attachment costs.
        """
    def search_many(
        self,
        source_offsets: NDArray[np.int64],
        source_nodes: NDArray[np.int64],
        source_costs: NDArray[np.float64],
        target_offsets: NDArray[np.int64],
        target_nodes: NDArray[np.int64],
        target_costs: NDArray[np.float64],
        goal_offsets: NDArray[np.int64] | None = None,
        goals: _FloatArray | None = None,
        method: Literal["astar", "dijkstra"] = "astar",
        n_threads: int = 0,
        raise_unreachable: bool = True,
    ) -> tuple[list[NDArray[np.int64]], NDArray[np.float64]]:
        """B virtual-endpoint searches in one call (ragged CSR-style arrays; query b uses
        ``source_nodes[source_offsets[b]:source_offsets[b+1]]`` and likewise for targets and goals), threads,
        GIL released. Equal to B calls of ``search``."""
    def distances_many(
        self,
        source_offsets: NDArray[np.int64],
        source_nodes: NDArray[np.int64],
        source_costs: NDArray[np.float64],
        target_offsets: NDArray[np.int64],
        target_nodes: NDArray[np.int64],
        target_costs: NDArray[np.float64],
        n_threads: int = 0,
    ) -> NDArray[np.float64]:
        """Route lengths from B virtual sources to T virtual targets: one Dijkstra per source row, stopped once every
        reachable target is settled, rows spread over threads with the GIL released.

        Source b is a virtual node with an edge of cost ``source_costs[i]`` to ``source_nodes[i]`` for i in
        ``source_offsets[b]:source_offsets[b+1]``; target t a virtual node reached from ``target_nodes[j]`` at cost
        ``target_costs[j]`` for j in ``target_offsets[t]:target_offsets[t+1]`` (ragged arrays as in ``search_many``,
        but the T targets are shared by every row). Sources have out-edges only and targets in-edges only, so no
        route passes through another query point. Repeated nodes are allowed (the cheapest attachment counts).

        Args:
            source_offsets: (B + 1,) int64; source_nodes (S,) int64; source_costs (S,) float64, finite, >= 0.
            target_offsets: (T + 1,) int64; target_nodes (R,) int64; target_costs (R,) float64, finite, >= 0.
            n_threads: worker threads, 0 = all hardware threads.

        Returns:
            (B, T) float64 route lengths, including both attachment costs; inf where target t lies in no connected
            component of source b's attachments.

        Raises:
            ValueError: malformed offsets (every query needs at least one attachment), costs of another length,
                negative or non-finite costs, a graph without weights, n_threads < 0 (the messages of ``search_many``).
            IndexError: a node id outside [0, n_nodes).
            TypeError: an array of another dtype.
        """
    def check_heuristic(self, n_threads: int = 0) -> int:
        """Compute the A* consistency verdict of the current weights and positions now (rows over ``n_threads``, 0 =
        all hardware threads), unless it was computed, so that the first A* search does not pay for it
        (O(n_edges * D) once per weights block; ``update_weights`` re-checks only its edges). Returns the number of
        edges whose weight is below its endpoints' distance (an A* search then raises ValueError naming the worst);
        0 without weights or positions.
        """
    @property
    def heuristic_checked(self) -> bool:
        """Whether the A* consistency verdict of the current weights and positions is computed (by ``check_heuristic``,
        an A* search, or carried over by ``update_weights``), so that no A* search will pay for it; False without
        weights or positions.
        """
    def ellipse(
        self,
        source_nodes: NDArray[np.int64],
        source_costs: NDArray[np.float64],
        target_nodes: NDArray[np.int64],
        target_costs: NDArray[np.float64],
        limit: float,
        goal: NDArray[np.float64] = ...,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """The nodes and arcs that routes of cost <= ``limit`` between two virtual ends can use, in O(what it visits).

        A virtual source is joined to ``source_nodes`` at ``source_costs``, a virtual target reached from
        ``target_nodes`` at ``target_costs``. Two bounded Dijkstras on one snapshot of the weights give ds and dt; the
        nodes kept are those with ds(v) + dt(v) <= limit, so every route of cost <= limit visits only them. ``goal``
        (D,) float64, the target's A* goal (empty: none): where A*'s preconditions hold on the snapshot (the consistency
        verdict has no violation, every target cost >= its node's distance to the goal), the source's search skips nodes
        with ds(v) + ||P[v] - goal|| > limit, visiting about the ellipse instead of the ball of radius ``limit``.

        Returns:
            (nodes, tails, heads, weights): (M,) int64 sorted node ids; (A,) int64 arcs among them (both directions of
            each edge, ``tails``/``heads`` index ``nodes``) and (A,) float64 their weights.

        Raises:
            ValueError: costs of another length, negative or non-finite costs or limit, a graph without weights.
            IndexError: a node id outside [0, n_nodes).
            TypeError: an array of another dtype.
        """
    def distance_routes(
        self,
        source_offsets: NDArray[np.int64],
        source_nodes: NDArray[np.int64],
        source_costs: NDArray[np.float64],
        target_offsets: NDArray[np.int64],
        target_nodes: NDArray[np.int64],
        target_costs: NDArray[np.float64],
        want: NDArray[np.bool_],
        n_threads: int = 0,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
        """``distances_many`` that also returns the routes to the wanted targets (one-to-many LazySP reads them).

        Each row's Dijkstra (virtual source, T virtual sinks, the arguments of ``distances_many``) stops once every
        reachable target t with ``want[b, t]`` is settled; the rows run over threads with the GIL released, on one
        snapshot of the weights.

        Args:
            source_offsets, source_nodes, source_costs, target_offsets, target_nodes, target_costs: as in
                ``distances_many``.
            want: (B, T) bool, C-contiguous: the pairs whose routes are read back.
            n_threads: worker threads, 0 = all hardware threads.

        Returns:
            (lengths, route_offsets, route_nodes): (B, T) float64 route lengths (both attachment costs included;
            inf where unreachable; an unwanted entry is inf unless its target was settled before the row stopped);
            (B T + 1,) int64 offsets: pair p = b T + t visits the graph nodes
            ``route_nodes[route_offsets[p]:route_offsets[p + 1]]`` (int64), from the node the source attaches at to
            the node the target is reached from; empty where not wanted or unreachable.

        Raises:
            ValueError: as ``distances_many``; ``want`` of another shape or not C-contiguous.
            IndexError: a node id outside [0, n_nodes).
            TypeError: an array of another dtype (``want`` must be bool).
        """
    def single_source(self, source: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """One-to-many Dijkstra from one node: distances (n_nodes,) float64 (inf where unreachable) and
        predecessors (n_nodes,) int64 (-1 for the source and unreachable nodes)."""
    # --- persistence -------------------------------------------------------------------------------------
    def save(self, path: str, metadata: str = "") -> None:
        """Write every array, the build parameters and a UTF-8 metadata string (e.g. JSON) to one file.

        Atomic: the bytes go to ``.{basename}.{pid}-{random}.part`` in the same folder (created if missing; mode
        0666 minus the umask), which is fsynced and renamed over ``path``; a crash leaves the old file or the new
        one, and part files of dead writers are removed by the next save. OSError (with errno and path) on
        failure."""
    @staticmethod
    def load(path: str) -> AtlasGraph:
        """Read a file written by ``save``; ValueError for a truncated, corrupted, crafted or foreign file (every
        header field is checked against the file size before anything is allocated), FileNotFoundError for a
        missing file, IsADirectoryError for a folder."""
    @property
    def metadata(self) -> str:
        """The metadata string stored with ``save`` (empty for a graph that was never saved/loaded)."""
