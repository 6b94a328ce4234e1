"""Progress by convention (issue 23, item 4): library calls are quiet unless the work is long and someone can see
it; True/False force it; the command line always shows it."""

from __future__ import annotations

import io
import math
import sys

import pytest
import torch

from agm import _progress, geodesic
from agm.models.analytic import CylinderAtlas


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_show_forces_with_true_false_and_needs_long_work_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _progress.show(True, 0.0) and not _progress.show(False, 1e9)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal (and no notebook kernel in the tests)
    assert not _progress.interactive() and not _progress.show(None, 1e9)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert _progress.interactive()
    assert _progress.show(None, _progress.LONG_S + 1) and not _progress.show(None, _progress.LONG_S / 2)


def test_decode_seconds_uses_the_measured_rate_or_a_slow_guess() -> None:
    assert _progress.decode_seconds(10_000, 5_000.0) == pytest.approx(2.0)
    assert _progress.decode_seconds(10_000, 0.0) == pytest.approx(10_000 / _progress.UNMEASURED_RATE)


def test_a_hidden_bar_is_quiet_and_a_shown_one_is_tqdms(capsys: pytest.CaptureFixture[str]) -> None:
    with _progress.progress_bar(False, 10, "edge weights", "edge") as quiet:
        assert isinstance(quiet, _progress.QuietBar)
        quiet.update(3)
        quiet.set_postfix(edges_decoded=3)
    with _progress.progress_bar(True, 10, "edge weights", "edge") as bar:
        bar.update(10)
    err = capsys.readouterr().err
    assert "edge weights" in err and "/10 " in err and "edge/s" in err


def _points(model: CylinderAtlas, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g))


def test_build_graph_is_quiet_by_default_and_prints_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = CylinderAtlas()
    data = _points(model, 300)
    geodesic.build_graph(model, data, k=6, n_steps=3)
    assert capsys.readouterr().err == ""
    geodesic.build_graph(model, data, k=6, n_steps=3, progress=True)
    assert "agm: built a graph of " in capsys.readouterr().err
    # a terminal and long work (every estimate over the threshold): shown without asking
    monkeypatch.setattr(_progress, "LONG_S", -1.0)
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    geodesic.build_graph(model, data, k=6, n_steps=3)
    assert "agm: built a graph of " in capsys.readouterr().err


def test_evaluate_all_prints_its_estimate_only_when_shown(capsys: pytest.CaptureFixture[str]) -> None:
    model = CylinderAtlas()
    data = _points(model, 300)
    graph = geodesic.build_graph(model, data, k=6, n_steps=3, progress=False)
    capsys.readouterr()
    graph.evaluate_all()
    assert capsys.readouterr().err == "" and graph.weights_evaluated == 1.0
    lazy = geodesic.build_graph(model, data, k=6, n_steps=3, progress=False)
    capsys.readouterr()
    lazy.evaluate_all(progress=True)
    err = capsys.readouterr().err
    assert "agm: decoding" in err and f"{lazy.native.n_intra_edges:,} edge weights" in err


def test_shortest_paths_is_quiet_by_default_and_shows_its_estimate_and_bar_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = CylinderAtlas()
    data = _points(model, 300)
    graph = geodesic.build_graph(model, data, k=6, n_steps=3, progress=False)
    X0, X1 = _points(model, 8)[:4], _points(model, 8)[4:]
    capsys.readouterr()
    quiet = graph.shortest_paths(X0, X1)
    assert capsys.readouterr().err == ""
    shown = geodesic.shortest_paths(model, X0, X1, graph, progress=True)
    err = capsys.readouterr().err
    assert "agm: 4 geodesics on " in err and "decodings" in err and "shortest_paths" in err  # estimate and bar
    assert [p.length for p in shown] == pytest.approx([p.length for p in quiet], rel=1e-6)
    graph.shortest_paths(X0, X1, progress=False)
    assert capsys.readouterr().err == ""
    # long work where someone can see it: shown without asking
    monkeypatch.setattr(_progress, "LONG_S", -1.0)
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    graph.shortest_paths(X0, X1)
    assert "agm: 4 geodesics on " in capsys.readouterr().err


def _sphere_paths(n: int) -> list[geodesic.GeodesicPath]:
    from agm.models.analytic import SphereAtlas

    model = SphereAtlas()
    g = torch.Generator().manual_seed(1)
    data = model.points(torch.randn(300, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=3, progress=False)
    return [graph.shortest_path(data[2 * i], data[2 * i + 1]) for i in range(n)]


def test_refine_paths_is_quiet_by_default_and_shows_a_bar_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _sphere_paths(3)
    capsys.readouterr()
    quiet = geodesic.refine_paths(paths)
    assert capsys.readouterr().err == ""
    shown = geodesic.refine_paths(paths, progress=True)
    assert "refine" in capsys.readouterr().err
    geodesic.refine_paths(paths, progress=False)
    assert capsys.readouterr().err == ""
    # long work (any estimate over the threshold) on a terminal: shown without asking
    monkeypatch.setattr(_progress, "LONG_S", -1.0)
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    geodesic.refine_paths(paths)
    assert "refine" in capsys.readouterr().err
    # the bar changes nothing
    assert [p.length for p in quiet] == [p.length for p in shown]
