"""How a graph's nodes are made and how query points are placed in its charts: one small object per node mode.

* :data:`ENCODER` ("encoder"): nodes are data points encoded into every chart with psi > eps; a query point is
  encoded the same way (the AGM route of Algorithm 1).
* :data:`DECODER` ("decoder"): nodes are prior samples decoded in each chart and matched across charts by latent
  search, for semi-AGMs without encoders (:mod:`agm.geodesic.graph.semi`); a query point is located by the same search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from agm.geodesic._support.checks import call_model, check_choice
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
    n_samples: int
    search_steps: int
    seed: int


class EncoderNodes:
    """Nodes and query points from the model's encoders."""

    name = "encoder"
    needs_encoder = True

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


class DecoderNodes:
    """Nodes from prior samples matched across charts by search; query points located by the same search."""

    name = "decoder"
    needs_encoder = False

    def build(
        self, model: SemiAtlasModel, data: torch.Tensor | None, s: NodeSettings
    ) -> tuple[ChartNodes, tuple[int, ...]]:
        """The chart nodes from ``s.n_samples`` prior samples, and the data shape (call under ``evaluating``)."""
        nodes = prior_nodes(
            model,
            max(1, s.n_samples // model.n_charts),
            s.eps,
            s.k,
            s.batch_size,
            s.device,
            search_steps=s.search_steps,
            seed=s.seed,
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
                steps=graph.search_steps,
                batch_size=batch_size,
            )

        return psi, latents


NodeMode = EncoderNodes | DecoderNodes
ENCODER = EncoderNodes()
DECODER = DecoderNodes()
MODES: dict[str, NodeMode] = {ENCODER.name: ENCODER, DECODER.name: DECODER}


def node_mode(name: str, model: SemiAtlasModel) -> NodeMode:
    """The node mode called ``name`` ("encoder", "decoder", or "auto": "encoder" when the model has ``encode``)."""
    check_choice("nodes", name, ("auto", *MODES))
    if name == "auto":
        return ENCODER if hasattr(model, "encode") else DECODER
    return MODES[name]
