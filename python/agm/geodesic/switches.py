"""Fewest chart switches among paths of equal length: re-choose the chart of every point of a found path.

Where two charts agree, a cross-chart edge costs about 0 and the two charts' copies of an edge cost the same to
float rounding, so the search may flip charts for free. Keeping the sequence of points a path visits (the query
points and the data points of its nodes), this module chooses, by dynamic programming, the chart in which each
step is taken and where to switch, so that the path has the fewest chart switches among all such paths no longer
than ``budget`` (the shortest length found, times 1 + :data:`REL_TOLERANCE`). Only edges of the graph (and the
query points' attachments) are used, so the result is a path of the same graph, as short as the search's up to
that tolerance.

A chain has stations 0..M (station 0 the source query point, M the target) in ``m`` charts:
    steps[i, c]         cost of the step from station i to i+1 in chart c (inf: no such edge),
    switch[i, a, c]     cost of switching from chart a to chart c at station i (inf: no such edge),
and starts at station 0 in chart ``start`` and ends at station M in chart ``end``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Paths within this relative length of the shortest count as equally long. float32 decodings make an edge's
#: weight uncertain by ~1e-7 relative (and a free cross edge cost ~1e-7), so ties below 1e-6 are rounding.
REL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ChartChoice:
    """The charts chosen along a chain.

    Attributes:
        arrive: (M+1,) chart in which each station is reached (station 0: the start chart).
        leave: (M+1,) chart in which each station is left (station M: the end chart).
        switches: number of stations where arrive != leave.
        cost: total cost of the chosen steps and switches.
    """

    arrive: np.ndarray
    leave: np.ndarray
    switches: int
    cost: float


def fewest_switches(
    steps: np.ndarray, switch: np.ndarray, start: int, end: int, budget: float, max_switches: int
) -> ChartChoice | None:
    """The chart choice with the fewest switches (then the lowest cost) whose cost is at most ``budget``.

    Args:
        steps: (M, m) float64 step costs (inf where there is no edge).
        switch: (M+1, m, m) float64 switch costs (inf where there is no edge; the diagonal is ignored).
        start, end: charts (0..m-1) of the first and the last station.
        budget: the largest acceptable total cost.
        max_switches: look for at most this many switches.

    Returns:
        The :class:`ChartChoice`, or None when no choice with at most ``max_switches`` switches fits the budget.
    """
    n_stations, m = switch.shape[0], switch.shape[1]
    s_max = max(0, int(max_switches))
    off_diag = switch.copy()
    off_diag[:, np.arange(m), np.arange(m)] = np.inf
    cost = np.full((s_max + 1, m), np.inf)
    cost[0, start] = 0.0
    came_from = np.empty((n_stations, s_max + 1, m), dtype=np.int64)  # chart before the switch at station i
    for i in range(n_stations):
        came_from[i] = np.arange(m)[None, :]
        if s_max > 0:
            cand = cost[:-1, :, None] + off_diag[i][None, :, :]  # (S, from, to)
            best_from = cand.argmin(axis=1)
            best = np.take_along_axis(cand, best_from[:, None, :], axis=1)[:, 0, :]
            better = best < cost[1:]
            cost[1:] = np.where(better, best, cost[1:])
            came_from[i, 1:] = np.where(better, best_from, came_from[i, 1:])
        if i < n_stations - 1:
            cost = cost + steps[i][None, :]
    fits = np.flatnonzero(cost[:, end] <= budget)
    if fits.size == 0:
        return None
    s = int(fits[0])
    total = float(cost[s, end])
    arrive = np.empty(n_stations, dtype=np.int64)
    leave = np.empty(n_stations, dtype=np.int64)
    chart = end
    for i in range(n_stations - 1, -1, -1):
        leave[i] = chart
        before = int(came_from[i, s, chart])
        if before != chart:
            s -= 1
        arrive[i] = chart = before
    return ChartChoice(arrive=arrive, leave=leave, switches=int(np.sum(arrive != leave)), cost=total)
