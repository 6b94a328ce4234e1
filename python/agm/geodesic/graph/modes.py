"""How a graph's nodes are made and how query points are placed in its charts: one small object per node mode.

* :data:`ENCODER` ("encoder"): nodes are data points encoded into every chart with psi > eps; a query point is
  encoded the same way (the AGM route of Algorithm 1).
* :data:`DECODER` ("decoder"): nodes are prior samples decoded in each chart and matched across charts by latent
  search, for semi-AGMs without encoders (:mod:`agm.geodesic.graph.semi`); a query point is located by the same search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from agm.geodesic._support.checks import call_model, check_choice, check_non_negative_int, check_positive_int
from agm.geodesic.graph.nodes import ChartNodes, encode_atlas, partition_points, select_nodes
from agm.geodesic.graph.semi import locate, prior_nodes
from agm.models.protocol import SemiAtlasModel

if TYPE_CHECKING:
    from agm.geodesic.graph.record import GraphRecord

#: copy latents of query points: (query of each copy (C,), chart of each copy (C,)) -> (C, d) float32
CopyLatents = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class NodeSettings:
    """The build parameters a node mode uses (see ``build_graph``)."""

    eps: float
    k: int
    batch_size: int
    device: torch.device
    skip_small_charts: bool
    progress: bool


class EncoderNodes:
    """Nodes and query points from the model's encoders (Algorithm 1's route for an AGM)."""

    name: ClassVar[str] = "encoder"
    needs_encoder: ClassVar[bool] = True
    search_steps: ClassVar[int] = 0

    def build(
        self, model: SemiAtlasModel, data: torch.Tensor | None, s: NodeSettings
    ) -> tuple[ChartNodes, tuple[int, ...]]:
        """The chart nodes of ``data`` (N, *S) and the data shape S (call under ``evaluating``)."""
        if data is None:
            raise ValueError("data is required to build the graph of an AGM from its encoders (nodes='encoder')")
        psi, z = encode_atlas(model, data, s.batch_size, s.device, s.progress)
        return select_nodes(psi, z, s.eps, s.k, s.skip_small_charts), tuple(data.shape[1:])

    def locate(
        self, graph: GraphRecord, model: SemiAtlasModel, x: torch.Tensor, batch_size: int, device: torch.device
    ) -> tuple[torch.Tensor, CopyLatents]:
        """Partition values (B, m) of query points (CPU) and a function giving their latents in given charts."""
        psi, z = encode_atlas(model, x, batch_size, device)

        def latents(query: np.ndarray, chart: np.ndarray) -> np.ndarray:
            return np.asarray(z[torch.from_numpy(query), torch.from_numpy(chart)].numpy(), dtype=np.float32)

        return psi, latents


@dataclass(frozen=True)
class DecoderNodes:
    """Nodes from prior samples matched across charts by search; query points located by the same search (the
    paper's encoder-free route, for semi-AGMs such as InfoGAN).

    Attributes:
        n_samples: prior samples in all, split evenly over the charts; None: the number of data points given to
            ``build_graph``, else 2000.
        search_steps: Levenberg-Marquardt iterations of the latent search that matches a sample in another chart
            and locates query points (:func:`agm.geodesic.graph.semi.refine`), >= 0.
        seed: seed of the prior samples, >= 0.
    """

    n_samples: int | None = None
    search_steps: int = 10
    seed: int = 0
    name: ClassVar[str] = "decoder"
    needs_encoder: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.n_samples is not None:
            check_positive_int("n_samples", self.n_samples)
        check_non_negative_int("search_steps", self.search_steps)
        check_non_negative_int("seed", self.seed)

    def build(
        self, model: SemiAtlasModel, data: torch.Tensor | None, s: NodeSettings
    ) -> tuple[ChartNodes, tuple[int, ...]]:
        """The chart nodes from ``n_samples`` prior samples (its default resolved by the build), and the data shape
        (call under ``evaluating``)."""
        nodes = prior_nodes(
            model,
            max(1, (self.n_samples or 2000) // model.n_charts),
            s.eps,
            s.k,
            s.batch_size,
            s.device,
            search_steps=self.search_steps,
            seed=self.seed,
            skip_small_charts=s.skip_small_charts,
            progress=s.progress,
        )
        z0 = torch.zeros(1, model.latent_dim, device=s.device)
        y0 = torch.zeros(1, dtype=torch.int64, device=s.device)
        return nodes, tuple(call_model("decode", model.decode, z0, y0).shape[1:])

    def locate(
        self, graph: GraphRecord, model: SemiAtlasModel, x: torch.Tensor, batch_size: int, device: torch.device
    ) -> tuple[torch.Tensor, CopyLatents]:
        """Partition values (B, m) of query points (CPU) and a function searching their latents in given charts."""
        psi = partition_points(model, x, batch_size, device).cpu()

        def latents(query: np.ndarray, chart: np.ndarray) -> np.ndarray:
            return locate(
                model,
                x[torch.from_numpy(query)].to(device, torch.float32),
                chart,
                graph.latents,
                graph.positions,
                graph.node_chart,
                steps=self.search_steps,
                batch_size=batch_size,
            )

        return psi, latents


NodeMode = EncoderNodes | DecoderNodes
ENCODER = EncoderNodes()
DECODER = DecoderNodes()
MODES: dict[str, NodeMode] = {ENCODER.name: ENCODER, DECODER.name: DECODER}


def node_mode(nodes: str | NodeMode, model: SemiAtlasModel) -> NodeMode:
    """The node mode ``nodes`` names ("encoder", "decoder", or "auto": "encoder" when the model has ``encode``), or
    ``nodes`` itself when it is one (e.g. ``DecoderNodes(n_samples=4000, search_steps=20)``)."""
    if isinstance(nodes, (EncoderNodes, DecoderNodes)):
        return nodes
    check_choice("nodes", nodes, ("auto", *MODES))
    if nodes == "auto":
        return ENCODER if hasattr(model, "encode") else DECODER
    return MODES[nodes]
