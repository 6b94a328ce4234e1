"""The graph of Algorithm 1 for other libraries: a scipy sparse matrix, a networkx graph, a data-point-level view.

Node ids are the native graph's (``graph.native``): chart after chart. Edge weights are exact by default: on a lazy
graph (``build_graph(weights="lazy")``) the unevaluated edges are decoded first (``graph.evaluate_all``, with its
decode estimate and a progress bar by the convention of :mod:`agm._progress`), and the graph keeps them.
``weights="bounds"`` exports the current weights instead, decoding nothing: unevaluated intra-chart edges hold their
decoded chord, a lower bound. What is returned says which: the scipy arrays carry an attribute ``weights``
("exact" or "bounds"), the networkx graph the graph attributes ``weights`` and ``exact``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.sparse import csr_array

from agm._optional import missing_extra
from agm.geodesic._support.checks import check_choice
from agm.geodesic.graph.completion import evaluate_all
from agm.geodesic.graph.node_positions import complete_positions
from agm.geodesic.graph.record import GraphRecord
from agm.models.protocol import SemiAtlasModel

if TYPE_CHECKING:
    import networkx

#: What the exports' edge weights hold: "exact" (decoded; the default) or "bounds" (decoded chords where a lazy
#: graph has not evaluated an edge).
WEIGHT_KINDS = ("exact", "bounds")


def exported_weights(
    graph: GraphRecord, model: SemiAtlasModel, weights: Literal["exact", "bounds"], progress: bool | None
) -> Literal["exact", "bounds"]:
    """Make the graph's weights what an export asked for; returns what they are ("bounds" only when asked for and
    some edge is unevaluated).

    Args:
        graph: the graph.
        model: its model; only needed to decode.
        weights: "exact" decodes every unevaluated edge first (``graph.evaluate_all``); "bounds" decodes nothing.
        progress: the decode estimate and a bar (None: only for long work on a terminal or notebook).

    Raises:
        ValueError: ``weights`` is neither "exact" nor "bounds"; no live model to decode with.
    """
    check_choice("weights", weights, WEIGHT_KINDS)
    complete_positions(graph, model, progress=progress)  # nodes decoded on demand: every chord needs them all
    if graph.edge_weights.complete:
        return "exact"
    if weights == "bounds":
        return "bounds"
    evaluate_all(graph, model, progress=progress)
    return "exact"


def _marked(matrix: csr_array, kind: str) -> csr_array:
    setattr(matrix, "weights", kind)  # noqa: B010 (scipy's arrays declare no such attribute)
    return matrix


def to_scipy(
    graph: GraphRecord,
    model: SemiAtlasModel,
    *,
    weights: Literal["exact", "bounds"] = "exact",
    progress: bool | None = None,
) -> csr_array:
    """The symmetric weighted adjacency over nodes: (n_nodes, n_nodes) float64 ``scipy.sparse.csr_array`` on the CPU.

    Zero-weight edges (cross-chart edges where two charts decode a point identically) are stored explicitly, which
    ``scipy.sparse.csgraph`` reads as edges of weight 0 (do not call ``eliminate_zeros`` on it). Exact weights
    unless ``weights="bounds"`` (:func:`exported_weights`: model, weights, progress); the array's attribute
    ``weights`` says which ("exact" or "bounds").
    """
    kind = exported_weights(graph, model, weights, progress)
    indptr, indices, data = graph.native.csr()
    return _marked(csr_array((data, indices, indptr), shape=(graph.n_nodes, graph.n_nodes)), kind)


def to_networkx(
    graph: GraphRecord,
    model: SemiAtlasModel,
    *,
    weights: Literal["exact", "bounds"] = "exact",
    progress: bool | None = None,
) -> networkx.Graph:
    """A ``networkx.Graph`` over nodes 0..n_nodes-1.

    Node attributes: ``chart`` (int, model chart), ``data_index`` (int, the data point) and ``latent`` ((d,)
    float32 numpy array). Edge attributes: ``weight`` (float) and ``cross_chart`` (bool). Graph attributes:
    ``charts``, ``k``, ``eps``, ``n_steps``, ``weights`` ("exact" or "bounds") and ``exact`` (bool). Exact weights
    unless ``weights="bounds"`` (:func:`exported_weights`: model, weights, progress).
    """
    try:
        import networkx as nx
    except ImportError as err:
        raise missing_extra("networkx", "GeodesicGraph.to_networkx()") from err

    kind = exported_weights(graph, model, weights, progress)
    g = nx.Graph(
        charts=graph.charts, k=graph.k, eps=graph.eps, n_steps=graph.n_steps, weights=kind, exact=kind == "exact"
    )
    g.add_nodes_from(
        (int(i), {"chart": int(c), "data_index": int(p), "latent": graph.latents[i]})
        for i, (c, p) in enumerate(zip(graph.node_chart, graph.node_point))
    )
    edges, values = graph.native.edges, graph.edge_weights.values
    n_intra = graph.native.n_intra_edges
    g.add_edges_from(
        (int(u), int(v), {"weight": float(w), "cross_chart": i >= n_intra})
        for i, ((u, v), w) in enumerate(zip(edges, values))
    )
    return g


def point_graph(
    graph: GraphRecord,
    model: SemiAtlasModel,
    *,
    weights: Literal["exact", "bounds"] = "exact",
    progress: bool | None = None,
) -> csr_array:
    """The data-point-level view: the nodes of each data point contracted into one vertex.

    Vertex p is data point p (0..max data index); two data points are joined by the cheapest edge between any of
    their nodes (in any chart); cross-chart edges (which join nodes of one data point) disappear. Returns a
    symmetric (n_points, n_points) float64 ``csr_array``. Shortest paths in it are never longer than in the node
    graph between the points' cheapest copies (contracting costs nothing where two charts disagree about a point),
    so it is an optimistic view. Exact edge weights unless ``weights="bounds"`` (:func:`exported_weights`: model,
    weights, progress); the array's attribute ``weights`` says which ("exact" or "bounds").
    """
    kind = exported_weights(graph, model, weights, progress)
    n_points = int(graph.node_point.max()) + 1
    edges = graph.native.edges[: graph.native.n_intra_edges]
    values = graph.edge_weights.values[: graph.native.n_intra_edges]
    p, q = graph.node_point[edges[:, 0]], graph.node_point[edges[:, 1]]
    a, b = np.concatenate([p, q]), np.concatenate([q, p])
    w = np.concatenate([values, values])
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.concatenate([[True], (a[1:] != a[:-1]) | (b[1:] != b[:-1])]) & (a != b)
    a, b, w = a[first], b[first], w[first]
    indptr = np.zeros(n_points + 1, dtype=np.int64)
    np.add.at(indptr, a + 1, 1)
    return _marked(csr_array((w, b, np.cumsum(indptr)), shape=(n_points, n_points)), kind)
