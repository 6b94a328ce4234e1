"""Result records shared by the demo and the reproduction: a graph's statistics and a geodesic's summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agm.experiments.records import from_record


@dataclass(frozen=True)
class GraphStats:
    """Table 1's statistics of a geodesic graph (:meth:`agm.geodesic.GeodesicGraph.stats`).

    Attributes:
        n_nodes, n_edges (intra + cross-chart), n_intra_edges, n_cross_edges, n_components, largest_component
        (nodes), diameter_hops (the exact hop diameter: the largest over the components), n_charts (charts kept).
    """

    n_nodes: int
    n_edges: int
    n_intra_edges: int
    n_cross_edges: int
    n_components: int
    largest_component: int
    diameter_hops: int
    n_charts: int

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> GraphStats:
        """The fields of ``graph.stats()`` this record keeps (other keys ignored).

        Raises:
            ValueError: a statistic is missing.
        """
        names = tuple(GraphStats.__dataclass_fields__)
        return from_record(cls, {n: int(stats[n]) for n in names if n in stats}, "graph.stats()")


@dataclass(frozen=True)
class PathSummary:
    """One geodesic, summarised (None fields: unreachable).

    Attributes:
        length: decoded path length (None: unreachable).  reachable: a path exists.  n_points: graph points on it.
        chart_sequence: the charts visited, in order.  n_chart_changes: chart transitions.  shortest_length: the
        pair's shortest graph route (``length`` exceeds it by at most the switch tolerance; None: unreachable or
        not recorded).
    """

    length: float | None
    reachable: bool
    n_points: int | None = None
    chart_sequence: list[int] | None = None
    n_chart_changes: int | None = None
    shortest_length: float | None = None
