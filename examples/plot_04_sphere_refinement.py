"""
Refinement on the sphere, against great circles
===============================================

A graph geodesic is a polyline through data points: its length overestimates the true distance by the graph's
discretisation error.  :meth:`agm.GeodesicPath.refine` (and :func:`agm.geodesic.refine_paths` for many paths in one
batched optimisation) turns it into a smooth curve of nearly minimal decoded length, keeping each point in a chart
where psi > eps and crossing between charts at shared points, never longer than the graph path.

:class:`agm.models.analytic.SphereAtlas` covers the unit sphere with the two stereographic charts; they are not
isometries (straight latent segments are not geodesics), so this tests the refinement itself.  The true distance is
the great-circle angle.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

import agm
from agm.geodesic import refine_paths
from agm.models.analytic import SphereAtlas

model = SphereAtlas()
g = torch.Generator().manual_seed(0)
data = model.points(torch.randn(2000, 3, generator=g))
graph = agm.build_graph(model, data, k=10, eps=0.05, n_steps=6, progress=False)

# %%
# 24 pairs, one point in each hemisphere, so every geodesic crosses from one stereographic chart to the other.
a = torch.randn(24, 3, generator=g)
b = torch.randn(24, 3, generator=g)
a[:, 2], b[:, 2] = a[:, 2].abs() + 0.2, -(b[:, 2].abs() + 0.2)
x0, x1 = model.points(a), model.points(b)
exact = model.distance(x0, x1).numpy()
paths = graph.shortest_paths(x0, x1)
graph_err = np.array([p.length for p in paths]) / exact - 1
print(f"graph paths: relative error median {np.median(graph_err):.4f}, max {graph_err.max():.4f}")

# %%
# Refinement with more and more Gauss-Newton evaluations (all 24 paths advance together in one call).
budgets = [0, 10, 30, 100]
errors = []
for steps in budgets:
    refined = refine_paths(paths, steps=steps, points=24, sub_steps=1)
    errors.append(np.array([p.length for p in refined]) / exact - 1)
    print(f"{steps:3d} steps: relative error median {np.median(errors[-1]):.2e}, max {errors[-1].max():.2e}")
assert np.all(errors[-1] <= graph_err + 1e-6) and np.all(errors[-1] > -1e-4)  # never longer; never below exact

# %%
# One geodesic before and after refinement, with the great circle through its endpoints.
fig = plt.figure(figsize=(11, 4.5))
ax = fig.add_subplot(1, 2, 1, projection="3d")
i = int(np.argmax(graph_err))
polyline = model.coordinates(paths[i].decode()).numpy()
smooth = model.coordinates(refined[i].decode()).numpy()
p, q = model.coordinates(x0[i : i + 1])[0].double(), model.coordinates(x1[i : i + 1])[0].double()
w = q - torch.dot(p, q) * p
w = w / torch.linalg.vector_norm(w)
s = torch.linspace(0, float(exact[i]), 100, dtype=torch.float64)
arc = (torch.cos(s)[:, None] * p + torch.sin(s)[:, None] * w).numpy()
ax.plot(*arc.T, "k-", lw=3, alpha=0.3, label="great circle (exact)")
ax.plot(*polyline.T, "o-", ms=3, label=f"graph path ({paths[i].length:.3f})")
ax.plot(*smooth.T, "-", label=f"refined, 100 steps ({refined[i].length:.3f})")
ax.set_title(f"the worst graph path; exact length {exact[i]:.3f}")
ax.legend(fontsize=8)
ax.set_axis_off()
ax2 = fig.add_subplot(1, 2, 2)
ax2.boxplot([graph_err] + errors, tick_labels=["graph"] + [f"refined\n{s} steps" for s in budgets])
ax2.set_yscale("symlog", linthresh=1e-4)
ax2.set_ylabel("length / great-circle distance - 1")
ax2.set_title("24 pairs across the equator")
fig.tight_layout()
plt.show()

# %%
# ``tolerance``: a curve stops when its next step would move none of its points by more than this fraction of its
# length.  The length converges before the shape, so a looser tolerance saves evaluations and first costs the curve's
# closeness to the great circle (its largest angle to the great circle's plane); far looser ones cost length too.


def largest_angle(path: agm.GeodesicPath, start: torch.Tensor, end: torch.Tensor) -> float:
    """The largest angle (rad) between the path's decoded points and the plane of the great circle of its ends."""
    normal = torch.linalg.cross(start, end)
    normal = normal / torch.linalg.vector_norm(normal)
    points = model.coordinates(path.decode()).double()
    points = points / torch.linalg.vector_norm(points, dim=1, keepdim=True)
    return float(torch.asin((points @ normal).abs().clamp(max=1.0)).max())


tolerances = [2e-4, 1e-3, 1e-2]
ends = [(model.coordinates(x0[j : j + 1])[0].double(), model.coordinates(x1[j : j + 1])[0].double()) for j in range(24)]
angles, length_errors = [], []
for tolerance in tolerances:
    refined = refine_paths(paths, tolerance=tolerance)
    angles.append([largest_angle(r, *ends[j]) for j, r in enumerate(refined)])
    length_errors.append(np.array([r.length for r in refined]) / exact - 1)
    print(
        f"tolerance {tolerance:g}: length error max {length_errors[-1].max():.1e}, "
        f"largest angle to the great circle median {np.median(angles[-1]):.1e} rad"
    )
assert np.median(angles[0]) <= np.median(angles[-1])  # the default follows the great circle at least as closely

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.boxplot(angles, tick_labels=[f"{t:g}" for t in tolerances])
ax.set_yscale("log")
ax.set_xlabel("tolerance (default 2e-4)")
ax.set_ylabel("largest angle to the great circle (rad)")
ax.set_title("shape against tolerance, 24 pairs across the equator")
fig.tight_layout()
plt.show()
