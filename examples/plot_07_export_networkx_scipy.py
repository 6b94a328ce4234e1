"""
Exporting the graph to scipy and networkx
=========================================

The graph of Algorithm 1 is an ordinary weighted graph: :meth:`agm.GeodesicGraph.to_scipy` gives its symmetric
adjacency as a ``scipy.sparse.csr_array`` (every ``scipy.sparse.csgraph`` algorithm applies),
:meth:`~agm.GeodesicGraph.to_networkx` a ``networkx.Graph`` with the chart, data point and latent of each node, and
:meth:`~agm.GeodesicGraph.point_graph` the data-point view (each point's nodes in several charts contracted into one).

A lazy graph holds lower bounds on the edges no query has needed yet; ``graph.evaluate_all()`` (or
``weights="eager"``) decodes them first, so the exports hold exact weights.
"""

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from scipy.sparse.csgraph import connected_components, dijkstra

import agm
from agm.models.analytic import CylinderAtlas

model = CylinderAtlas()
g = torch.Generator().manual_seed(0)
theta = (torch.rand(800, generator=g) * 2 - 1) * torch.pi
height = torch.rand(800, generator=g) * 2
graph = agm.build_graph(model, model.points(theta, height), k=8, eps=0.05, n_steps=4, weights="eager", progress=False)

# %%
# scipy: Dijkstra from one node over the exported matrix equals agm's own search between the same data points
# (here: data points 0 and 1, each attached at its node in its most likely chart).
A = graph.to_scipy()
print(f"{A.shape[0]} nodes, {A.nnz // 2} edges")
source = int(np.flatnonzero(graph.node_point == 0)[0])
far = dijkstra(A, indices=source)
n_components, _ = connected_components(A, directed=False)
print(f"connected components: {n_components}; farthest node from node {source}: {far.max():.3f}")

P = graph.point_graph()
d_points = dijkstra(P, indices=0)
path = graph.shortest_path(model.points(theta[:1], height[:1])[0], model.points(theta[1:2], height[1:2])[0])
print(f"point graph 0 -> 1: {d_points[1]:.4f}; agm path between the same points: {path.length:.4f}")

# %%
# networkx: node attributes say where each node lives (chart, data point, latent); edges say whether they join two
# charts.  networkx's Dijkstra on the exported graph agrees with scipy's on the exported matrix.
G = graph.to_networkx()
print(G.graph, G.number_of_nodes(), G.number_of_edges())
lengths = nx.single_source_dijkstra_path_length(G, source, weight="weight")
assert np.allclose([lengths[i] for i in range(G.number_of_nodes())], far, rtol=1e-12)
cross = [(u, v) for u, v, d in G.edges(data=True) if d["cross_chart"]]
print(f"{len(cross)} cross-chart edges, between {len({G.nodes[u]['data_index'] for u, _ in cross})} data points")
node_theta = theta[graph.node_point].numpy()
node_height = height[graph.node_point].numpy()
chart = np.array([G.nodes[i]["chart"] for i in range(G.number_of_nodes())])

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
sc = axes[0].scatter(node_theta, node_height, c=far, cmap="viridis", s=8)
axes[0].plot(node_theta[source], node_height[source], "r*", ms=14)
fig.colorbar(sc, ax=axes[0], label="dijkstra distance (scipy = networkx)")
axes[0].set(xlabel="theta", ylabel="height", title="distances from one node")
for y in (0, 1):
    axes[1].scatter(node_theta[chart == y], node_height[chart == y], s=6, c=f"C{y}", label=f"nodes in chart {y}")
ends = np.array([u for u, _ in cross])
axes[1].scatter(node_theta[ends], node_height[ends], s=18, facecolors="none", edgecolors="k", label="cross-chart edge")
axes[1].set(xlabel="theta", title="charts and their overlaps (networkx attributes)")
axes[1].legend(fontsize=8, loc="upper right")
fig.tight_layout()
plt.show()
