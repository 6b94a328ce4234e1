"""
Geodesic distances, medoid, k-medoids and an embedding across charts
====================================================================

Statistics that need only distances work across charts once the distances are geodesic: the medoid, PAM
k-medoids, and Isomap across charts (classical multidimensional scaling of the geodesic distance matrix,
:class:`agm.estimators.AtlasIsomap`).
The model is the closed-form two-chart cylinder (:class:`agm.models.analytic.CylinderAtlas`, radius 1, heights
0..3), whose true distances are known, so each number can be checked.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

import agm
from agm.estimators import AtlasIsomap
from agm.geodesic import frechet_mean, k_medoids, medoid
from agm.models.analytic import CylinderAtlas

model = CylinderAtlas()
g = torch.Generator().manual_seed(0)
theta = (torch.rand(2500, generator=g) * 2 - 1) * torch.pi
height = torch.rand(2500, generator=g) * 3
graph = agm.build_graph(model, model.points(theta, height), k=12, eps=0.05, n_steps=4, progress=False)

# %%
# Distances between 300 other points: an (n, n) float64 matrix, symmetric, zero on the diagonal.  The cylinder's
# charts are isometries, so the exact distance is hypot(r * dtheta, dh).
t, h = (torch.rand(300, generator=g) * 2 - 1) * torch.pi, torch.rand(300, generator=g) * 3
X = model.points(t, h)
D = graph.distances(X)
exact = model.distance(t[:, None], h[:, None], t[None, :], h[None, :]).numpy()
off = ~np.eye(len(X), dtype=bool)
ratio = D[off] / exact[off]
print(f"graph / exact distance: median {np.median(ratio):.4f}, 95th percentile {np.percentile(ratio, 95):.4f}")

# %%
# The medoid (least sum of squared distances) and k-medoids with k = 4.  On the cylinder the clusters are
# arcs of the circle that wrap around the seam at theta = +-pi, where the charts meet.
centre = medoid(D)
clusters = k_medoids(D, 4, seed=0)
print(f"medoid: point {centre}; k-medoids cost {clusters.cost:.1f} after {clusters.swaps} swaps")

# %%
# The Fréchet mean of one cluster: the point minimising the sum of squared geodesic distances, found by refining
# geodesics from the current estimate (so it is not restricted to data points, unlike the medoid).
members = torch.nonzero(torch.as_tensor(clusters.labels) == 0).flatten()[:12]
mean = frechet_mean(model, X[members], graph=graph, max_iter=3, refine_steps=40, warm_steps=20, points=8)
mt, mh = model.cylindrical(mean.point[None])
print(f"Frechet mean of 12 points of cluster 0: theta {float(mt):.2f}, height {float(mh):.2f}")

# %%
# Isomap across charts: :class:`agm.estimators.AtlasIsomap` (scikit-learn's estimator API; ``pip install
# ".[sklearn]"``) embeds the points by classical MDS of their geodesic distances, across the charts, and
# ``transform`` places new points by landmark MDS without refitting.
iso = AtlasIsomap(model, n_components=2, k=12, n_steps=4).fit(X)
embedding = iso.embedding_
t_new, h_new = (torch.rand(50, generator=g) * 2 - 1) * torch.pi, torch.rand(50, generator=g) * 3
placed = iso.transform(model.points(t_new, h_new))
print(f"top eigenvalues {iso.eigenvalues_.round(1)}; 50 new points placed: {placed.shape}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4))
axes[0].plot(exact[off][::50], D[off][::50], ".", ms=2)
axes[0].plot([0, exact.max()], [0, exact.max()], "k--", lw=1)
axes[0].set(xlabel="exact distance", ylabel="graph distance", title="distances (every 50th pair)")
axes[1].scatter(t, h, c=clusters.labels, cmap="tab10", s=8)
axes[1].scatter(t[clusters.medoids], h[clusters.medoids], marker="*", s=200, c="k", label="medoids")
axes[1].scatter(t[centre], h[centre], marker="o", s=120, facecolors="none", edgecolors="r", label="medoid of all")
axes[1].scatter(mt, mh, marker="P", s=120, c="m", label="Frechet mean, cluster 0")
axes[1].set(xlabel="theta", ylabel="height", title="k-medoids (k = 4) on the cylinder")
axes[1].legend(fontsize=7, loc="upper right")
axes[2].scatter(embedding[:, 0], embedding[:, 1], c=t, cmap="twilight", s=8)
axes[2].scatter(placed[:, 0], placed[:, 1], c=t_new, cmap="twilight", s=30, marker="x", label="placed by transform")
axes[2].set(title="AtlasIsomap of the cylinder (colour: theta)", aspect="equal")
axes[2].legend(fontsize=7, loc="upper right")
fig.tight_layout()
plt.show()
