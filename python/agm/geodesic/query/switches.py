"""Fewest chart switches along a chain of stations: the direct routes' choice of chart (x0 -> x1 joined by their own
edge in one of their shared charts, :func:`agm.geodesic.query.routes.best_route`). Routes through graph nodes are chosen
by the layered search of :mod:`agm.geodesic.query.layered`, over every route of the graph.

A chain has stations 0..M (station 0 the source query point, M the target) in ``m`` charts:
    steps[i, d, c]      cost of the step from station i to station i + d + 1 in chart c (inf: no such edge),
    switch[i, a, c]     cost of switching from chart a to chart c at station i (inf: no such edge),
and starts at station 0 in chart ``start`` and ends at station M in chart ``end`` (steps with d > 0 skip
stations).
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
        stations: (V,) the stations visited, increasing, from 0 to M.
        arrive: (V,) chart in which each visited station is reached (station 0: the start chart).
        leave: (V,) chart in which each visited station is left (station M: the end chart).
        switches: number of stations where arrive != leave.
        cost: total cost of the chosen steps and switches.
    """

    stations: np.ndarray
    arrive: np.ndarray
    leave: np.ndarray
    switches: int
    cost: float


def fewest_switches(
    steps: np.ndarray, switch: np.ndarray, start: int, end: int, budget: float, max_switches: int
) -> ChartChoice | None:
    """The chart choice with the fewest switches (then the lowest cost) whose cost is at most ``budget``.

    Args:
        steps: (M, W, m) float64 step costs, ``steps[i, d, c]`` from station i to i + d + 1 (inf where there is
            no edge or i + d + 1 > M).
        switch: (M+1, m, m) float64 switch costs (inf where there is no edge; the diagonal is ignored).
        start, end: charts (0..m-1) of the first and the last station.
        budget: the largest acceptable total cost (finite).
        max_switches: look for at most this many switches.

    Returns:
        The :class:`ChartChoice` (over the stations visited: skipped stations are left out), or None when no
        choice with at most ``max_switches`` switches fits the budget.
    """
    n_stations, m = switch.shape[0], switch.shape[1]
    window = steps.shape[1]
    s_max = max(0, int(max_switches))
    off_diag = switch.copy()
    off_diag[:, np.arange(m), np.arange(m)] = np.inf
    left: list[np.ndarray] = []  # cost after the switch at each station, (S+1, m)
    came_from = np.empty((n_stations, s_max + 1, m), dtype=np.int64)  # chart before the switch at station i
    arrived_from = np.full((n_stations, s_max + 1, m), -1, dtype=np.int64)  # station of the step into station i
    for i in range(n_stations):
        arrive = np.full((s_max + 1, m), np.inf)
        if i == 0:
            arrive[0, start] = 0.0
        for d in range(1, min(window, i) + 1):
            cand = left[i - d] + steps[i - d, d - 1][None, :]
            better = cand < arrive
            arrive = np.where(better, cand, arrive)
            arrived_from[i] = np.where(better, i - d, arrived_from[i])
        cost = arrive.copy()
        came_from[i] = np.arange(m)[None, :]
        if s_max > 0:
            cand = arrive[:-1, :, None] + off_diag[i][None, :, :]  # (S, from, to)
            best_from = cand.argmin(axis=1)
            best = cand.min(axis=1)
            better = best < cost[1:]
            cost[1:] = np.where(better, best, cost[1:])
            came_from[i, 1:] = np.where(better, best_from, came_from[i, 1:])
        left.append(cost)
    final = left[-1][:, end]
    fits = np.flatnonzero(np.isfinite(final) & (final <= budget))
    if fits.size == 0:
        return None
    s = int(fits[0])
    total = float(final[s])
    stations: list[tuple[int, int, int]] = []  # (station, arrive chart, leave chart), last first
    station, chart = n_stations - 1, end
    while True:
        before = int(came_from[station, s, chart])
        if before != chart:
            s -= 1
        stations.append((station, before, chart))
        if station == 0:
            break
        station, chart = int(arrived_from[station, s, before]), before
    stations.reverse()
    return ChartChoice(
        stations=np.array([st for st, _, _ in stations], dtype=np.int64),
        arrive=np.array([a for _, a, _ in stations], dtype=np.int64),
        leave=np.array([lv for _, _, lv in stations], dtype=np.int64),
        switches=sum(int(a != lv) for _, a, lv in stations),
        cost=total,
    )
