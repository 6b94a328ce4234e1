"""The result of a geodesic query: :class:`GeodesicPath`, a curve through the atlas that can refine itself.

Floor: :mod:`agm.geodesic.paths` (the curve record of :mod:`agm.geodesic.paths.curve` and its refinement,
:mod:`agm.geodesic.paths.refine`, below it).
"""

from __future__ import annotations

from dataclasses import dataclass

from agm.geodesic.paths.curve import AtlasCurve
from agm.geodesic.paths.refine import refine_paths
from agm.geodesic.refinement.gauss_newton import MOVE_TOLERANCE


@dataclass(frozen=True, repr=False)
class GeodesicPath(AtlasCurve):
    """A geodesic between two data points through one or more charts (a graph path, or a refined curve).

    The path's points are the start's main copy (its encoding in its most likely chart) [and its copy in the
    chart the path leaves it in], the graph nodes visited, and [the end's copy in the chart the path reaches it
    in, and] the end's main copy. Consecutive points in one chart are joined by a straight latent segment
    (measured by its decoded length); consecutive points in different charts are two encodings of the same point.
    A direct route (the two query points joined by their own edge, e.g. x0 == x1 or two close points) visits no
    graph node: ``nodes`` and ``data_indices`` are empty and the points are the queries' copies only.

    The decodings (``decode``, ``interpolate``) use the model's current weights and the graph's decode batch;
    they raise ValueError once the model no longer is the one the path was computed with.

    Attributes:
        length: the decoded length (float).
        charts: (L,) int64, the chart of every point on the path.
        latents: (L, d) float32, the latent point of every point in its chart.
        nodes: (N,) int64, the graph nodes visited (ids of ``graph.native``), L - 4 <= N <= L - 2; may be empty.
        data_indices: (N,) int64, the data point (index into the graph's data) of each visited node.
        chart_changes: (T,) int64, the indices i where charts[i] != charts[i + 1].
        shortest_length: the length of the pair's shortest graph route (float; ``length`` exceeds it by at most
            the query's switch tolerance when a route with fewer chart switches was chosen); NaN where not known
            (a refined curve).
    """

    def refine(
        self,
        steps: int = 100,
        *,
        points: int = 32,
        jump_weight: float = 100.0,
        eps: float | None = None,
        keep_in_chart: bool = True,
        change_charts: bool = True,
        tolerance: float = MOVE_TOLERANCE,
    ) -> GeodesicPath:
        """This geodesic refined into a smooth curve of (nearly) minimal decoded length, never longer than this one.

        See :func:`agm.geodesic.paths.refine.refine_paths`: ``steps`` bounds its Gauss-Newton evaluations, with
        ``change_charts`` the curve's points may move to other charts (adding, dropping or moving transitions), and
        ``tolerance`` (a fraction of the curve's length) says how little a last step must move it.
        Many paths refine faster in one :func:`~agm.geodesic.paths.refine.refine_paths` call (all curves advance
        together: measured 0.22x the CPU time per path of one-by-one calls for 20 sphere geodesics).
        """
        eps = self._eps if eps is None else eps  # default: the eps of the graph the path was found in
        return refine_paths(
            [self],
            steps=steps,
            points=points,
            jump_weight=jump_weight,
            eps=eps,
            keep_in_chart=keep_in_chart,
            change_charts=change_charts,
            tolerance=tolerance,
        )[0]
