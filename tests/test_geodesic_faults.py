"""Errors and warnings that name the real fault (issue 23): the decoder's shape, what joins two components, what
refinement needs, queries far from the graph, a checkpoint folder, a one-point batch; one-call interpolation;
optional extras named when missing; CLI help without machine paths."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import agm
from agm import geodesic
from agm.cli import build_parser
from agm.models.analytic import CylinderAtlas
from agm.models.protocol import AtlasModel
from agm.training import load_checkpoint


def _cylinder(n: int, seed: int, height: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return CylinderAtlas().points(
        torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * height
    )


class Counted(CylinderAtlas):
    """Counts partition calls; decodes points of 2 coordinates instead of the data's 3 when ``short``."""

    def __init__(self, short: bool) -> None:
        super().__init__()
        self.short = short
        self.partition_calls = 0

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        self.partition_calls += 1
        return super().partition(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = super().decode(z, y)
        return out[:, :2] if self.short else out


def test_a_decoder_of_the_wrong_shape_is_named_before_any_other_model_call() -> None:
    model = Counted(short=True)
    with pytest.raises(
        ValueError, match=r"model\.decode must return \(B, \*S\) with the data's point shape S = \(3,\)"
    ):
        geodesic.build_graph(model, _cylinder(100, 0), k=5, progress=False)
    assert model.partition_calls == 0  # found first, not 16 s into the build as an IndexError in partition
    fine = Counted(short=False)
    geodesic.build_graph(fine, _cylinder(100, 0), k=5, n_steps=2, progress=False)
    assert fine.partition_calls > 0


def test_unreachable_charts_that_do_not_overlap_advise_a_smaller_eps() -> None:
    model = CylinderAtlas()  # psi_0 > 0.5 exactly where cos(theta) > 0: at eps = 0.5 no point lies in both charts
    data = _cylinder(400, 1)
    graph = geodesic.build_graph(model, data, k=8, eps=0.5, n_steps=2, progress=False)
    assert graph.stats()["n_cross_edges"] == 0
    x0, x1 = model.points(torch.tensor([0.0, math.pi]), torch.tensor([0.5, 0.5]))
    with pytest.raises(agm.UnreachableError, match=r"no cross-chart edge at all at eps=0\.5.*a smaller eps"):
        geodesic.shortest_path(model, x0, x1, graph)


def test_unreachable_pieces_of_one_chart_advise_a_larger_k() -> None:
    model = CylinderAtlas()
    data = torch.cat([_cylinder(200, 2), _cylinder(200, 3) + torch.tensor([0.0, 0.0, 50.0])])  # two height bands
    graph = geodesic.build_graph(model, data, k=5, n_steps=2, progress=False)
    with pytest.raises(agm.UnreachableError, match=r"chart \d splits into several components at k=5: a larger k"):
        geodesic.shortest_path(model, data[0], data[300], graph)


class NumpyDecoder(CylinderAtlas):
    """Decodes through numpy: fine for graphs (no gradients), useless for refinement."""

    def __init__(self, detach: bool) -> None:
        super().__init__()
        self.detach = detach

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z_np = (z.detach() if self.detach else z).numpy()
        return torch.from_numpy(super().decode(torch.from_numpy(z_np), y).numpy())


@pytest.mark.parametrize("detach", [True, False])
def test_refining_a_non_differentiable_decoder_says_what_refinement_needs(detach: bool) -> None:
    model = NumpyDecoder(detach)
    data = _cylinder(300, 4)
    graph = geodesic.build_graph(model, data, k=8, n_steps=2, progress=False)
    path = graph.shortest_path(data[0], data[1])  # the graph works without gradients
    match = r"refine needs a differentiable model\.decode: .*its output from z with torch operations"
    with pytest.raises(TypeError, match=match):
        path.refine(steps=2)
    with pytest.raises(TypeError, match=match):
        geodesic.refine_paths([path], steps=2)


def test_the_protocol_says_what_refine_needs_and_that_charts_may_mix() -> None:
    doc = AtlasModel.decode.__doc__ or ""
    assert "One batch may mix charts" in doc
    assert "differentiable in z" in doc and "refine" in doc


def test_a_query_far_from_the_graph_warns_with_agm_warning() -> None:
    model = CylinderAtlas()
    data = _cylinder(300, 5)
    graph = geodesic.build_graph(model, data, k=8, n_steps=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordinary query warns nothing
        graph.shortest_path(data[0], data[1])
        graph.distances(data[:5])
    with pytest.warns(agm.AgmWarning, match=r"x1 lies [\d.]+ from the nearest decoding .* scale") as info:
        graph.shortest_path(data[0], 100 * data[1])
    assert issubclass(info[0].category, UserWarning)
    with pytest.warns(agm.AgmWarning, match=r"Y\[2\] lies"):
        graph.distances(data[:3], torch.cat([data[3:5], 100 * data[5:6]]))


def test_data_off_the_model_set_the_scale_so_only_queries_farther_than_the_data_warn(tmp_path: Path) -> None:
    model = CylinderAtlas()  # data 0.3 off the cylinder, like a model that reconstructs its data poorly
    g = torch.Generator().manual_seed(9)
    noisy = _cylinder(400, 9) + 0.3 * torch.nn.functional.normalize(torch.randn(400, 3, generator=g), dim=1)
    graph = geodesic.build_graph(model, noisy, k=8, n_steps=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graph.distances(noisy[:20], noisy[20:40])  # as far from their decodings as the data: no warning
    with pytest.warns(agm.AgmWarning, match=r"X\[1\] lies"):
        graph.distances(torch.stack([noisy[0], 30 * noisy[1]]))
    graph.save(tmp_path / "g.agmg")
    loaded = geodesic.load_graph(tmp_path / "g.agmg", model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no data distance recorded for a loaded graph: it never warns
        loaded.distances(torch.stack([noisy[0], 30 * noisy[1]]))


def test_a_checkpoint_folder_suggests_its_checkpoint_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"is a folder; a run folder holds its checkpoint as .*checkpoint\.pt"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path} is a folder; did you mean {tmp_path}/checkpoint\.pt\?"):
        load_checkpoint(tmp_path)


def test_a_one_point_batch_as_a_query_says_index_it_or_use_shortest_paths() -> None:
    model = CylinderAtlas()
    data = _cylinder(200, 6)
    graph = geodesic.build_graph(model, data, k=8, n_steps=2, progress=False)
    with pytest.raises(
        ValueError, match=r"x0 must be one point .* got a batch of shape \(1, 3\): pass x0\[0\], or shortest_paths"
    ):
        geodesic.shortest_path(model, data[:1], data[1], graph)


def test_interpolate_is_the_strip_of_the_geodesic_in_one_call() -> None:
    model = CylinderAtlas()
    data = _cylinder(300, 7)
    graph = geodesic.build_graph(model, data, k=8, n_steps=4, progress=False)
    expected = geodesic.shortest_path(model, data[0], data[1], graph).interpolate(7)
    for strip in (
        geodesic.interpolate(model, data[0], data[1], n=7, graph=graph),
        agm.interpolate(model, data[0], data[1], 7),  # the model's latest graph
        graph.interpolate(data[0], data[1], 7),
        geodesic.interpolate(CylinderAtlas(), data[0], data[1], n=7, data=data, k=8, n_steps=4),  # builds first
    ):
        assert torch.equal(strip.x, expected.x) or torch.allclose(strip.x, expected.x, atol=1e-6)
        np.testing.assert_array_equal(strip.charts, expected.charts)
    assert geodesic.interpolate(model, data[0], data[1]).x.shape == (10, 3)  # n = 10 by default
    refined = geodesic.interpolate(model, data[0], data[1], n=7, graph=graph, refine=True)
    assert refined.arc_length[-1] <= expected.arc_length[-1] * (1 + 1e-6)
    with pytest.raises(ValueError, match="not both"):
        geodesic.interpolate(model, data[0], data[1], graph=graph, data=data)
    with pytest.raises(ValueError, match="n must be an int >= 2; got 1"):
        geodesic.interpolate(model, data[0], data[1], n=1)


def test_missing_networkx_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    model = CylinderAtlas()
    graph = geodesic.build_graph(model, _cylinder(100, 8), k=5, n_steps=2, progress=False)
    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(ModuleNotFoundError, match=r"to_networkx\(\) needs networkx, .*: pip install networkx"):
        graph.to_networkx()


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sub.format_help() for name, sub in subparsers.choices.items()}


def test_cli_help_names_no_machine_path_and_n_steps_counts_segments() -> None:
    helps = _helps(build_parser())
    for name, text in helps.items():
        assert "/work" not in text and "/home" not in text and "shared/data" not in text, name
    for name in ("geodesic", "reproduce"):
        flat = " ".join(helps[name].split())
        assert "--n-steps" in flat and "segments per" in flat, name
