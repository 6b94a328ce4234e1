"""Concurrent queries on one lazy graph return what serial queries return (issue 19, item 4).

LazySP decides which edges of a route are still lower bounds against the mask read before the search that found
the route: another thread evaluating one of them in between must not let a chord into an accepted length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: float32 decodings in other batches: lengths agree to ~1e-6 relative; an accepted chord is 1e-5..4e-4 low.
RTOL, ATOL = 1e-5, 1e-7
MODEL = CylinderAtlas(radius=0.7, ambient_shape=(6,))


def _points(n: int, g: torch.Generator) -> torch.Tensor:
    return MODEL.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)


def _graphs(
    n: int, seed: int, n_steps: int = 5
) -> tuple[torch.Tensor, geodesic.GeodesicGraph, Callable[[], geodesic.GeodesicGraph]]:
    """Data, its eager graph, and a maker of fresh lazy graphs (same arguments)."""
    g = torch.Generator().manual_seed(seed)
    data = _points(n, g)
    policy = geodesic.DecodePolicy(batch_size=256)
    kw = {"k": 10, "eps": 0.05, "n_steps": n_steps, "progress": False, "decode_policy": policy}
    eager = geodesic.build_graph(MODEL, data, weights="eager", **kw)  # type: ignore[arg-type]
    return data, eager, lambda: geodesic.build_graph(MODEL, data, weights="lazy", **kw)  # type: ignore[arg-type]


def _lengths(paths: list[geodesic.GeodesicPath | None]) -> np.ndarray:
    return np.array([math.inf if p is None else p.length for p in paths])


def test_the_issue_reproducer_eight_threads_of_shortest_paths_equal_serial() -> None:
    data, eager, lazy = _graphs(2000, 1)
    g = torch.Generator().manual_seed(2)
    X0, X1 = _points(320, g), _points(320, g)

    def job(graph: geodesic.GeodesicGraph) -> Callable[[int], np.ndarray]:
        def run(t: int) -> np.ndarray:
            rows = slice(t * 40, (t + 1) * 40)
            return _lengths(list(geodesic.shortest_paths(MODEL, X0[rows], X1[rows], graph, n_threads=2)))

        return run

    ref = np.concatenate([job(eager)(t) for t in range(8)])
    shared = lazy()
    with ThreadPoolExecutor(8) as ex:
        got = np.concatenate(list(ex.map(job(shared), range(8))))
    assert int(((ref - got) / ref > RTOL).sum()) == 0
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)
    assert 0.0 < shared.weights_evaluated < 1.0  # the threads shared one lazy graph and left it lazy


@pytest.fixture(scope="module", params=[5, 9])  # one bound level; two (bounds.top_level)
def small(
    request: pytest.FixtureRequest,
) -> tuple[torch.Tensor, geodesic.GeodesicGraph, Callable[[], geodesic.GeodesicGraph]]:
    return _graphs(400, 3, request.param)


@settings(max_examples=6, deadline=None)
@given(
    n_threads=st.integers(2, 8),
    cuts=st.lists(st.integers(1, 47), min_size=1, max_size=7, unique=True),
    kinds=st.lists(st.sampled_from(["path", "paths", "distances"]), min_size=8, max_size=8),
    seed=st.integers(0, 1000),
)
def test_concurrent_queries_of_every_kind_equal_serial(
    small: tuple[torch.Tensor, geodesic.GeodesicGraph, Callable[[], geodesic.GeodesicGraph]],
    n_threads: int,
    cuts: list[int],
    kinds: list[str],
    seed: int,
) -> None:
    data, eager, lazy = small
    g = torch.Generator().manual_seed(seed)
    X0, X1 = _points(48, g), _points(48, g)
    X1[0] = X0[0]  # d(x, x) = 0
    bounds = [0, *sorted(cuts), 48]
    parts = [(lo, hi, kinds[i % len(kinds)]) for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]

    def job(graph: geodesic.GeodesicGraph) -> Callable[[tuple[int, int, str]], np.ndarray]:
        def run(part: tuple[int, int, str]) -> np.ndarray:
            lo, hi, kind = part
            if kind == "path":
                return _lengths([geodesic.shortest_path(MODEL, X0[i], X1[i], graph) for i in range(lo, hi)])
            if kind == "paths":
                return _lengths(list(geodesic.shortest_paths(MODEL, X0[lo:hi], X1[lo:hi], graph, n_threads=2)))
            return np.asarray(geodesic.distances(MODEL, X0[lo:hi], X1[lo:hi], graph, n_threads=2).ravel())

        return run

    ref = [job(eager)(p) for p in parts]
    shared = lazy()
    with ThreadPoolExecutor(n_threads) as ex:
        got = list(ex.map(job(shared), parts))
    for want, have in zip(ref, got):
        np.testing.assert_allclose(have, want, rtol=RTOL, atol=ATOL)
