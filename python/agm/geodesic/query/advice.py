"""What would join two components of the graph: the advice of :class:`agm.UnreachableError`.

Two query points are unreachable when they attach to different connected components. What joins them depends on
why the components are apart:

* the components hold nodes of *different* charts only, so no cross-chart edge (a data point with psi > eps in
  both charts) links them: the charts do not overlap at this eps, and a smaller eps puts more points in several
  charts;
* the components share a chart: that chart's k-NN graph splits into pieces, and a larger k (or more data) links
  them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from agm.geodesic.graph.record import GraphRecord


def component_charts(graph: GraphRecord, components: Iterable[int]) -> set[int]:
    """The model charts that hold at least one node of the given components."""
    wanted = np.isin(graph.native.component, np.fromiter(components, dtype=np.int64))
    return set(np.unique(graph.node_chart[wanted]).tolist())


def joining_advice(graph: GraphRecord, first: Iterable[int], second: Iterable[int]) -> str:
    """A sentence saying what would join components ``first`` to components ``second`` (sets of component ids).

    Returns:
        "a smaller eps ..." when the two sides share no chart (their charts do not overlap at ``graph.eps``:
        ``n_cross_edges`` in words), "a larger k ..." when they share one (naming the chart that splits).
    """
    a, b = component_charts(graph, first), component_charts(graph, second)
    shared = sorted(a & b)
    if shared:
        return (
            f"chart {shared[0]} splits into several components at k={graph.k}: a larger k (or more data in the "
            "gaps) joins them"
        )
    n_cross = int(graph.native.n_edges - graph.native.n_intra_edges)
    overlap = "no cross-chart edge at all" if n_cross == 0 else f"{n_cross} cross-chart edges, none between them"
    return (
        f"they hold nodes of different charts ({sorted(a)} and {sorted(b)}) and the graph has {overlap} at "
        f"eps={graph.eps}: the charts do not overlap there, and a smaller eps (more points in several charts) "
        "joins them"
    )
