r"""
Bring your own atlas: a four-chart torus
========================================

Any object with the atlas interface (:class:`agm.AtlasModel`: ``n_charts``, ``latent_dim``, ``encode``, ``decode``,
``partition``) gets Algorithm 1's geodesics; it need not be a trained network, nor even a ``torch.nn.Module``.
Here the ring torus in R^3 (radii R = 2, r = 1) is covered by four angle charts centred at
(u, v) in {0, pi} x {0, pi}, glued by a smooth partition of unity.  No chart covers the whole torus, so a long
geodesic has to change chart.

Exact distances: on a meridian (u fixed) the arc is the shortest curve, of length r·\|Δv\| (the metric
is (R + r cos v)² du² + r² dv² ≥ r² dv², Δv the wrapped angle gap), so meridian pairs
have an exact distance to compare the graph and the refined lengths with.  For other pairs
max(r·\|Δv\|, (R - r)·\|Δu\|) is a lower bound.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

import agm

R, r = 2.0, 1.0


def wrap(angle: torch.Tensor) -> torch.Tensor:
    """Angle in [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


class TorusAtlas:
    """The ring torus in R^3 with four charts z = (u - a_y, v - b_y), centres (a_y, b_y) in {0, pi}^2."""

    n_charts = 4
    latent_dim = 2
    centres = torch.tensor([[0.0, 0.0], [0.0, math.pi], [math.pi, 0.0], [math.pi, math.pi]])
    beta = 4.0  # steepness of the partition of unity

    @staticmethod
    def points(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, 3) points of the torus at angles u (around the axis) and v (around the tube)."""
        ring = R + r * torch.cos(v)
        return torch.stack([ring * torch.cos(u), ring * torch.sin(u), r * torch.sin(v)], dim=1)

    @staticmethod
    def angles(x: torch.Tensor) -> torch.Tensor:
        """(B, 2) angles (u, v) of points (B, 3) on the torus."""
        u = torch.atan2(x[:, 1], x[:, 0])
        v = torch.atan2(x[:, 2], torch.hypot(x[:, 0], x[:, 1]) - R)
        return torch.stack([u, v], dim=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3) -> (B, 4, 2)
        return wrap(self.angles(x)[:, None, :] - self.centres)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (B, 2), (B,) -> (B, 3)
        uv = z + self.centres[y]
        return self.points(uv[:, 0], uv[:, 1])

    def partition(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3) -> (B, 4), rows sum to 1
        uv = self.angles(x)
        pu = torch.sigmoid(self.beta * torch.cos(uv[:, 0]))  # chart centres at u = 0 vs u = pi
        pv = torch.sigmoid(self.beta * torch.cos(uv[:, 1]))
        return torch.stack([pu * pv, pu * (1 - pv), (1 - pu) * pv, (1 - pu) * (1 - pv)], dim=1)


model = TorusAtlas()
print("an AtlasModel:", isinstance(model, agm.AtlasModel))

# %%
# Build the graph: 3,000 points uniform in the angles, k = 12 neighbours per chart, a point joins every chart
# whose psi exceeds eps, each edge measured by decoding its straight latent segment at 8 sub-segments.
g = torch.Generator().manual_seed(0)
u, v = (torch.rand(2, 3000, generator=g) * 2 - 1) * math.pi
data = TorusAtlas.points(u, v)
graph = agm.build_graph(model, data, k=12, eps=0.05, n_steps=8, progress=False)
print(graph)

# %%
# Meridian pairs: the exact distance is r·\|Δv\|.  Each geodesic is found in the graph (a polyline
# through data points, across charts where needed), then refined into a smooth curve.  Refinement is local: where the
# graph took the other way around the meridian, the refined curve converges to that arc (length 2 pi r minus the
# exact distance).
v0 = torch.tensor([-2.6, -2.0, -1.0, 0.4, 1.5])
v1 = torch.tensor([0.2, 1.2, 2.0, 2.9, -2.8])
u_m = torch.tensor([0.5, 2.0, -2.5, 1.0, -0.6])
x0, x1 = TorusAtlas.points(u_m, v0), TorusAtlas.points(u_m, v1)
paths = graph.shortest_paths(x0, x1)
refined = agm.geodesic.refine_paths(paths, steps=60, points=24)
exact = r * torch.abs(wrap(v1 - v0))
print(" exact   graph  refined  charts of the graph path")
for e, p, q in zip(exact.tolist(), paths, refined):
    print(f"{e:6.3f}  {p.length:6.3f}  {q.length:7.3f}  {''.join(map(str, p.charts.tolist()))}")

# %%
# Random pairs: graph and refined lengths against the lower bound
# max(r·\|Δv\|, (R - r)·\|Δu\|).
uv0 = (torch.rand(40, 2, generator=g) * 2 - 1) * math.pi
uv1 = (torch.rand(40, 2, generator=g) * 2 - 1) * math.pi
pairs = graph.shortest_paths(TorusAtlas.points(uv0[:, 0], uv0[:, 1]), TorusAtlas.points(uv1[:, 0], uv1[:, 1]))
smooth = agm.geodesic.refine_paths(pairs, steps=40, points=16)
gap = torch.abs(wrap(uv1 - uv0))
bound = torch.maximum(r * gap[:, 1], (R - r) * gap[:, 0]).numpy()
graph_len = np.array([p.length for p in pairs])
refined_len = np.array([p.length for p in smooth])
assert np.all(refined_len <= graph_len * (1 + 1e-5)) and np.all(refined_len >= bound * (1 - 1e-3))
switches = [len(p.chart_changes) for p in pairs]
print(f"chart switches per path: {np.bincount(switches)} (paths with 0, 1, 2, ... switches)")

# %%
# The figure: one meridian geodesic on the torus, coloured by chart, and lengths against the exact distance / the
# lower bound.
fig = plt.figure(figsize=(11, 4.5))
ax = fig.add_subplot(1, 2, 1, projection="3d")
ax.scatter(*data[::6].T.numpy(), s=1, c="0.8")
colors = plt.get_cmap("tab10")
for p in paths[:3]:
    pts = p.decode().numpy()
    for chart in np.unique(p.charts):
        sel = p.charts == chart
        ax.plot(*pts[sel].T, ".-", color=colors(int(chart)), ms=4)
ax.set_title("meridian geodesics, coloured by chart")
ax.set_box_aspect((1, 1, 0.35))
ax.set_axis_off()
ax2 = fig.add_subplot(1, 2, 2)
ax2.plot(exact.numpy(), [p.length for p in paths], "o", label="graph, meridian pairs")
ax2.plot(exact.numpy(), [p.length for p in refined], "s", label="refined, meridian pairs")
ax2.plot(bound, graph_len, ".", alpha=0.5, label="graph, random pairs (x = lower bound)")
ax2.plot(bound, refined_len, "x", alpha=0.5, label="refined, random pairs (x = lower bound)")
lim = [0, max(graph_len.max(), float(exact.max())) * 1.05]
ax2.plot(lim, lim, "k--", lw=1, label="y = x")
ax2.set_xlabel("exact distance (meridians) / lower bound (random pairs)")
ax2.set_ylabel("length")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
