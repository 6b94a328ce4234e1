"""The graph of Algorithm 1 for other libraries: a scipy sparse matrix, a networkx graph, a data-point-level view.

Node ids are the native graph's (``graph.native``): chart after chart. Edge weights are the graph's current ones:
for a lazy graph (``build_graph(weights="lazy")``) unevaluated intra-chart edges hold their decoded chord, a lower
bound; call ``graph.evaluate_all(model)`` first for the exact weights (the exports say so in ``exact``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csr_array

from agm._optional import missing_extra
from agm.geodesic.graph import GeodesicGraph


def to_scipy(graph: GeodesicGraph) -> csr_array:
    """The symmetric weighted adjacency over nodes: (n_nodes, n_nodes) float64 ``scipy.sparse.csr_array``.

    Zero-weight edges (cross-chart edges where two charts decode a point identically) are stored explicitly, which
    ``scipy.sparse.csgraph`` reads as edges of weight 0 (do not call ``eliminate_zeros`` on it).
    """
    indptr, indices, data = graph.native.csr()
    return csr_array((data, indices, indptr), shape=(graph.n_nodes, graph.n_nodes))


def to_networkx(graph: GeodesicGraph) -> Any:
    """A ``networkx.Graph`` over nodes 0..n_nodes-1.

    Node attributes: ``chart`` (int, model chart), ``data_index`` (int, the data point) and ``latent`` ((d,)
    float32 numpy array). Edge attributes: ``weight`` (float) and ``cross_chart`` (bool). Graph attributes:
    ``charts``, ``k``, ``eps``, ``n_steps`` and ``exact`` (False while a lazy graph has unevaluated weights).
    """
    try:
        import networkx as nx
    except ImportError as err:
        raise missing_extra("networkx", "GeodesicGraph.to_networkx()") from err

    g = nx.Graph(
        charts=graph.charts, k=graph.k, eps=graph.eps, n_steps=graph.n_steps, exact=bool(graph.edge_weights.complete)
    )
    g.add_nodes_from(
        (int(i), {"chart": int(c), "data_index": int(p), "latent": graph.latents[i]})
        for i, (c, p) in enumerate(zip(graph.node_chart, graph.node_point))
    )
    edges, weights = graph.native.edges, graph.edge_weights.values
    n_intra = graph.native.n_intra_edges
    g.add_edges_from(
        (int(u), int(v), {"weight": float(w), "cross_chart": i >= n_intra})
        for i, ((u, v), w) in enumerate(zip(edges, weights))
    )
    return g


def point_graph(graph: GeodesicGraph) -> csr_array:
    """The data-point-level view: the nodes of each data point contracted into one vertex.

    Vertex p is data point p (0..max data index); two data points are joined by the cheapest edge between any of
    their nodes (in any chart); cross-chart edges (which join nodes of one data point) disappear. Returns a
    symmetric (n_points, n_points) float64 ``csr_array``. Shortest paths in it are never longer than in the node
    graph between the points' cheapest copies (contracting costs nothing where two charts disagree about a point),
    so it is an optimistic view.
    """
    n_points = int(graph.node_point.max()) + 1
    edges = graph.native.edges[: graph.native.n_intra_edges]
    weights = graph.edge_weights.values[: graph.native.n_intra_edges]
    p, q = graph.node_point[edges[:, 0]], graph.node_point[edges[:, 1]]
    a, b = np.concatenate([p, q]), np.concatenate([q, p])
    w = np.concatenate([weights, weights])
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.concatenate([[True], (a[1:] != a[:-1]) | (b[1:] != b[:-1])]) & (a != b)
    a, b, w = a[first], b[first], w[first]
    indptr = np.zeros(n_points + 1, dtype=np.int64)
    np.add.at(indptr, a + 1, 1)
    return csr_array((w, b, np.cumsum(indptr)), shape=(n_points, n_points))
