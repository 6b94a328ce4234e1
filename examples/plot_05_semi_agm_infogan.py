"""
A semi-AGM without encoders: InfoGAN
====================================

InfoGAN (:class:`agm.models.InfoGAN`) has chart decoders G_y (its generator with a categorical code y) and a
partition of unity psi = Q(y|x), but no chart encoders: a *semi-AGM* (:class:`agm.SemiAtlasModel`).  Its graph is
built the paper's encoder-free way (``nodes="decoder"``): prior samples decoded in each chart are the nodes, and a
sample that also lies in another chart's region is found there by a latent search, which joins the charts.

Trained here for a few seconds on agm's embedded ``circle`` data set (points on the unit circle in R^2) with two
charts: each chart generates an arc.  A GAN this briefly trained does
not reproduce the data (its arcs are larger than the circle, see the figure); the geodesics follow the manifold the
*model* generates, which is what a semi-AGM's graph is made of, so the queries below are generated points too.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

import agm
from agm.data import load_dataset
from agm.training import make_config, train

torch.manual_seed(0)
torch.set_num_threads(1)
config = make_config("tiny", model="infogan", n_charts=2, dataset="circle", hidden=32, n_train=2048, epochs=40, seed=0)
model = train(config, progress=False).model
print("an AtlasModel:", isinstance(model, agm.AtlasModel), "/ a SemiAtlasModel:", isinstance(model, agm.SemiAtlasModel))

# %%
# The graph: 1,500 prior samples per chart decoded as nodes.  InfoGAN trains Q to recognise each chart's own samples
# with confidence, so few samples lie where the other chart's psi is large: the charts join only at a small eps (a
# sample joins every chart whose psi exceeds eps).  Take the largest eps of a grid that gives one connected graph.
for eps in (0.1, 0.05, 0.02, 0.01, 0.005, 0.002):
    nodes = agm.geodesic.DecoderNodes(n_samples=3000, seed=0)  # the decoder route's options
    graph = agm.build_graph(model, None, nodes=nodes, k=10, eps=eps, n_steps=6, progress=False)
    stats = graph.stats()
    print(f"eps {eps}: {stats['n_components']} component(s), {stats['n_cross_edges']} cross-chart edges")
    if stats["n_components"] == 1:
        break

# %%
# Geodesics between generated points: a start in chart 0 and ends in chart 1 (queries are placed in the charts by
# the same latent search as the nodes).
data = load_dataset("circle", "test", n=400).x
with torch.no_grad():
    z = torch.zeros(4, model.latent_dim)
    z[:, 0] = torch.tensor([-1.5, -1.0, 0.0, 1.5])  # along the first latent axis
    starts = model.decode(z[:1].expand(3, -1), torch.zeros(3, dtype=torch.int64))
    ends = model.decode(z[1:], torch.ones(3, dtype=torch.int64))
paths = graph.shortest_paths(starts, ends)
for p in paths:
    print(f"length {p.length:.3f}, charts {p.charts.tolist()}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
with torch.no_grad():
    z = torch.randn(800, model.latent_dim)
    for y in range(model.n_charts):
        samples = model.decode(z, torch.full((800,), y, dtype=torch.int64))
        axes[0].scatter(*samples.T.numpy(), s=3, alpha=0.5, label=f"G_{y}(z), z ~ N(0, I)")
axes[0].scatter(*data.T.numpy(), s=3, c="k", label="test data")
axes[0].set(title="the two charts' samples", aspect="equal")
axes[0].legend(fontsize=8, markerscale=3)
axes[1].scatter(*graph.positions.T, s=2, c="0.8", label="graph nodes")
for p in paths:
    pts = p.decode().numpy()
    charts = np.asarray(p.charts)
    axes[1].plot(*pts.T, "-", c="0.3", lw=1)
    for y in range(model.n_charts):
        axes[1].plot(*pts[charts == y].T, "o", ms=3, c=f"C{y}")
axes[1].set(title="geodesics between generated points (coloured by chart)", aspect="equal")
axes[1].legend(fontsize=8, markerscale=3)
fig.tight_layout()
plt.show()
