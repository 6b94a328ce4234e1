"""The graph as an object: scipy / networkx exports and the point-level view, round-tripped with native searches."""

from __future__ import annotations

import gc
import math
import weakref

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import dijkstra

from agm import geodesic
from agm.geodesic.graph.export import to_scipy
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _graph(n: int = 300) -> tuple[CylinderAtlas, torch.Tensor, geodesic.GeodesicGraph]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g))
    graph = geodesic.build_graph(model, data, k=6, n_steps=3, progress=False)
    graph.evaluate_all()
    return model, data, graph


def test_scipy_and_networkx_shortest_paths_equal_the_native_search() -> None:
    model, data, graph = _graph()
    a = graph.to_scipy()
    assert a.shape == (graph.n_nodes, graph.n_nodes) and (a != a.T).nnz == 0
    nxg = graph.to_networkx()
    assert nxg.number_of_nodes() == graph.n_nodes and nxg.number_of_edges() == graph.n_edges
    node = nxg.nodes[5]
    assert node["chart"] == graph.node_chart[5] and node["data_index"] == graph.node_point[5]
    np.testing.assert_array_equal(node["latent"], graph.latents[5])
    sources = [0, 17, graph.n_nodes - 1]
    dist = dijkstra(a, indices=sources)
    for row, s in enumerate(sources):
        native, _ = graph.native.single_source(s)
        np.testing.assert_allclose(dist[row], native, rtol=1e-12)
        for t in (3, graph.n_nodes // 2):
            _, cost = graph.native.shortest_path(s, t, method="dijkstra")
            assert nx.dijkstra_path_length(nxg, s, t) == pytest.approx(cost, rel=1e-12)


def test_point_graph_keeps_the_cheapest_edge_between_points() -> None:
    model, data, graph = _graph(200)
    p = graph.point_graph()
    assert p.shape == (200, 200) and (p != p.T).nnz == 0 and p.diagonal().max() == 0
    edges, w = graph.native.edges[: graph.native.n_intra_edges], graph.native.weights[: graph.native.n_intra_edges]
    u, v = graph.node_point[edges[:, 0]], graph.node_point[edges[:, 1]]
    i, j = int(u[0]), int(v[0])
    brute = w[((u == i) & (v == j)) | ((u == j) & (v == i))].min()
    assert p[i, j] == brute
    # contracting a point's copies never lengthens a route between nodes of two points
    d_point = dijkstra(p, indices=[i])[0]
    d_node = dijkstra(graph.to_scipy(), indices=np.flatnonzero(graph.node_point == i)).min(axis=0)
    for q in (5, 50, 150):
        assert d_point[q] <= d_node[graph.node_point == q].min() + 1e-12


def test_graph_methods_use_the_model_it_holds_and_dropping_the_graph_frees_both() -> None:
    model, data, graph = _graph(200)
    assert graph.model is model
    path = graph.shortest_path(data[0], data[9])
    assert path.length == pytest.approx(geodesic.shortest_path(model, data[0], data[9], graph=graph).length)
    assert len(graph.shortest_paths(data[:2], data[2:4])) == 2
    other = CylinderAtlas()
    g2 = geodesic.build_graph(other, data, k=6, n_steps=3, progress=False)
    model_ref, record_ref = weakref.ref(other), weakref.ref(g2.record)
    del other
    gc.collect()
    assert g2.model is model_ref() is not None  # the graph keeps its model alive
    assert geodesic.latest_graph(g2.model).record is g2.record  # and is still that model's default graph
    same = geodesic.GeodesicGraph(g2.record, model)  # same behaviour (a closed-form model): the fingerprint matches
    assert same.model is model
    del g2, same
    gc.collect()
    assert model_ref() is None and record_ref() is None  # the default-graph map kept neither alive


def test_a_graph_keeps_its_model_after_a_newer_graph_is_built_for_it(tmp_path: object) -> None:
    model, data, first = _graph()
    second = geodesic.build_graph(model, data[:200], k=6, n_steps=3, progress=False)
    assert geodesic.latest_graph(model).record is second.record and first.model is model and second.model is model
    assert first.shortest_path(data[0], data[1]).length > 0
    path = f"{tmp_path}/g.agm"
    first.save(path)
    assert geodesic.load_graph(path, model=model).model is model


def test_paths_and_interpolations_have_summary_reprs_and_refine_defaults_to_the_graph_eps() -> None:
    model, data, graph = _graph()
    path = graph.shortest_path(data[0], data[150])
    text, strip = repr(path), repr(path.interpolate(50))
    assert "array(" not in text and "tensor(" not in strip and len(text) < 200 and len(strip) < 200
    assert f"length={path.length:.6g}" in text and f"chart_changes={path.chart_changes.size}" in text
    assert "n=50" in strip and path._eps == graph.eps


def _lazy_and_eager(n: int = 300) -> tuple[CylinderAtlas, geodesic.GeodesicGraph, geodesic.GeodesicGraph]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(3)
    data = model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g))
    kw = {"k": 6, "n_steps": 4, "progress": False}
    eager = geodesic.build_graph(model, data, weights="eager", **kw)  # type: ignore[arg-type]
    return model, geodesic.build_graph(model, data, weights="lazy", **kw), eager  # type: ignore[arg-type]


def test_exports_of_a_lazy_graph_are_exact_by_default() -> None:
    model, lazy, eager = _lazy_and_eager()
    assert lazy.weights_evaluated == 0.0
    a = lazy.to_scipy()  # decodes what is missing (the model is bound to the graph)
    assert a.weights == "exact" and lazy.weights_evaluated == 1.0
    np.testing.assert_allclose(a.toarray(), eager.to_scipy().toarray(), rtol=1e-6, atol=1e-9)
    n = lazy.to_networkx()
    assert n.graph["weights"] == "exact" and n.graph["exact"] is True
    p, q = lazy.point_graph(), eager.point_graph()
    assert p.weights == "exact" == q.weights
    np.testing.assert_allclose(p.toarray(), q.toarray(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("export", ["to_scipy", "to_networkx", "point_graph"])
def test_bounds_only_when_asked_for_and_marked(export: str) -> None:
    model, lazy, eager = _lazy_and_eager(200)
    out = getattr(lazy, export)(weights="bounds")
    assert lazy.weights_evaluated == 0.0  # nothing decoded
    if export == "to_networkx":
        assert out.graph["weights"] == "bounds" and out.graph["exact"] is False
        w = np.array([d["weight"] for _, _, d in out.edges(data=True)])
        ref = np.array([d["weight"] for _, _, d in eager.to_networkx().edges(data=True)])
        assert np.all(w <= ref * (1 + 1e-6) + 1e-12)  # float32 chords of straight edges: equal to rounding
    else:
        assert out.weights == "bounds"
        ref = getattr(eager, export)()
        assert np.all(out.toarray() <= ref.toarray() * (1 + 1e-6) + 1e-12)
        assert (out.toarray() < ref.toarray() * (1 - 1e-4)).any()  # chords: some strictly below
    with pytest.raises(ValueError, match="weights must be one of"):
        getattr(lazy, export)(weights="chords")


def test_exact_export_shows_its_estimate_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    model, lazy, _ = _lazy_and_eager(200)
    capsys.readouterr()
    to_scipy(lazy.record, model, progress=True)
    err = capsys.readouterr().err
    assert "agm: decoding" in err and "decodings" in err
    _, quiet, _ = _lazy_and_eager(200)
    capsys.readouterr()
    assert quiet.to_scipy().weights == "exact"  # progress=None and stderr captured: silent
    assert capsys.readouterr().err == ""
