"""A cheap decoder's attachment edges are decoded when attached (``search._cheap_attachments``); an expensive
decoder's stay lazy (issue 12). Oracle: the same queries with lazy attachments (lengths, routes); decode counts."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.graph.curves import interior_decodings
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query import search
from agm.geodesic.query.lazysp import LazyStats
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N_STEPS, K = 6, 8


def _setup() -> tuple[CylinderAtlas, geodesic.GeodesicGraph, torch.Tensor, torch.Tensor]:
    model = CylinderAtlas(radius=0.7)
    g = torch.Generator().manual_seed(3)

    def points(n: int) -> torch.Tensor:
        return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)

    graph = geodesic.build_graph(
        model, points(500), k=K, n_steps=N_STEPS, progress=False, weights="eager", decode_policy=DecodePolicy(1, 64)
    )
    return model, graph, points(12), points(12)


def _record(graph: geodesic.GeodesicGraph, measured: float) -> object:
    """The graph's record with a decode policy measured at ``measured`` points per second (0: not measured)."""
    graph.record.decode_policy = DecodePolicy(threads=1, batch_size=64, measured=measured)
    return graph.record


def _queries(model: CylinderAtlas, record: object, x0: torch.Tensor, x1: torch.Tensor) -> tuple[list[float], LazyStats]:
    stats = LazyStats()
    lengths = [search.shortest_path(model, x0[i], x1[i], record, lazy_stats=stats).length for i in range(x0.shape[0])]  # type: ignore[arg-type]
    return lengths, stats


def test_cheap_decoder_attaches_exactly_and_finds_the_same_paths() -> None:
    model, graph, x0, x1 = _setup()
    lazy, lazy_stats = _queries(model, _record(graph, 0.0), x0, x1)  # not measured: lazy, as before
    cheap, cheap_stats = _queries(model, _record(graph, 1e12), x0, x1)
    np.testing.assert_allclose(cheap, lazy, rtol=2e-6, atol=1e-7)
    assert lazy_stats.attachment_edges > 0
    assert cheap_stats.attachment_edges == 0  # none left for the LazySP rounds
    assert cheap_stats.rounds < lazy_stats.rounds


def test_attachments_decoded_up_front_in_one_call(
    count_decodes: Callable[[torch.nn.Module], list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, graph, x0, x1 = _setup()
    calls = count_decodes(model)
    record = _record(graph, 1e12)
    att_calls: list[int] = []
    original = search.evaluate

    def watched(*args: object, **kwargs: object) -> int:
        before = len(calls)
        out = original(*args, **kwargs)  # type: ignore[arg-type]
        att_calls.extend(calls[before:])
        return out

    monkeypatch.setattr(search, "evaluate", watched)
    search.shortest_path(model, x0[0], x1[0], record)  # type: ignore[arg-type]
    copies = len(att_calls) and att_calls[0] // (K * interior_decodings(N_STEPS))
    assert len(att_calls) == 1 and att_calls[0] == copies * K * interior_decodings(N_STEPS) and copies >= 2


@pytest.mark.parametrize("slack", [0.999, 1.001])
def test_rule_is_the_decode_time_at_the_measured_rate(slack: float) -> None:
    """Eager exactly where the pending attachments' interior decodings take at most EAGER_ATTACH_S."""
    model, graph, x0, _ = _setup()
    att = search.attach(graph.record, model, x0[:1], 64, torch.device("cpu"))
    points = int((~att.evaluated).sum()) * interior_decodings(N_STEPS)
    rate = points / search.EAGER_ATTACH_S * slack
    record = _record(graph, rate)
    assert search._cheap_attachments(record, att) == (points if slack > 1 else 0)  # type: ignore[arg-type]
    graph.record.decode_policy = None  # a graph file written before policies were stored
    assert search._cheap_attachments(graph.record, att) == 0
