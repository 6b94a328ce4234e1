"""The object users hold: the graph of Algorithm 1 together with the model it was built for.

``GeodesicGraph`` keeps its model (strongly, as a :class:`~agm.geodesic.GeodesicPath` does) beside the graph's
record (:class:`~agm.geodesic.graph.record.GraphRecord`: native graph, node latents, weights, build parameters), so
its methods need no model argument and return the typed results of the floors below: paths, distance matrices,
refined paths, means, exports. It never consults the default graph of a model (that association belongs to the
functions of :mod:`agm.geodesic.verbs` alone).

Floor: the top of :mod:`agm.geodesic`; imports the query, paths, graph and support floors, never
:mod:`agm.geodesic.verbs`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from scipy.sparse import csr_array
from typing_extensions import Unpack

from agm._core import AtlasGraph
from agm.geodesic._support.checks import check_int
from agm.geodesic.graph import completion, export, node_positions
from agm.geodesic.graph.file import read_graph, save_graph
from agm.geodesic.graph.modes import NodeMode
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.graph.weights import GraphWeights
from agm.geodesic.paths.curve import Interpolation
from agm.geodesic.paths.path import GeodesicPath
from agm.geodesic.paths.refine import refine_paths
from agm.geodesic.query import distances as distances_module
from agm.geodesic.query import search
from agm.geodesic.query.distances import DistanceOptions
from agm.geodesic.query.search import PathOptions
from agm.geodesic.refinement.gauss_newton import MOVE_TOLERANCE
from agm.geodesic.statistics import FrechetMean, frechet_mean
from agm.models.protocol import SemiAtlasModel

if TYPE_CHECKING:
    import networkx

Points = torch.Tensor | np.ndarray


class GeodesicGraph:
    """The graph of Algorithm 1 for one model, and the model: geodesics, distances and exports in one object.

    Made by :func:`agm.geodesic.build_graph` and :func:`agm.geodesic.load_graph` (or from a record and its model:
    ``GeodesicGraph(record, model)``, which checks that the record was built for ``model``).

    Attributes:
        record: the :class:`~agm.geodesic.graph.record.GraphRecord` the queries read (shared by every
            ``GeodesicGraph`` of the same graph).
        model: the AGM (or semi-AGM) the graph was built for, held strongly.

    The record's build parameters and arrays are read through properties: ``native``, ``charts``, ``eps``, ``k``,
    ``n_steps``, ``attach``, ``nodes``, ``data_shape``, ``latents`` (n_nodes, d) float32, ``node_chart`` and
    ``node_point`` (n_nodes,) int64, ``positions`` (n_nodes, D) float32, ``edge_weights``, ``decode_policy``,
    ``fingerprint``, ``timings``, ``n_nodes``, ``n_edges``, ``weights_evaluated``.
    """

    def __init__(self, record: GraphRecord, model: SemiAtlasModel) -> None:
        if not isinstance(record, GraphRecord):
            raise TypeError(f"record must be a GraphRecord; got {type(record).__name__}")
        record.check_model(model)
        self.record = record
        self.model = model

    # -- the record's parameters and arrays ------------------------------------------------------------------
    @property
    def native(self) -> AtlasGraph:
        """The native ``agm._core.AtlasGraph`` (nodes, edges, weights, decoded positions, searches)."""
        return self.record.native

    @property
    def charts(self) -> tuple[int, ...]:
        """Model chart of each native chart (charts with too few points may be skipped)."""
        return self.record.charts

    @property
    def eps(self) -> float:
        """The partition threshold the graph was built with."""
        return self.record.eps

    @property
    def k(self) -> int:
        """Neighbours per node inside its chart."""
        return self.record.k

    @property
    def n_steps(self) -> int:
        """Segments per edge (eq. 10's n)."""
        return self.record.n_steps

    @property
    def attach(self) -> str:
        """The queries' default attachment rule, "all" or "paper"."""
        return self.record.attach

    @property
    def nodes(self) -> str:
        """The node mode's name: "encoder" or "decoder"."""
        return self.record.nodes

    @property
    def node_mode(self) -> NodeMode:
        """How nodes were made and query points are placed (:mod:`agm.geodesic.graph.modes`)."""
        return self.record.node_mode

    @property
    def data_shape(self) -> tuple[int, ...]:
        """S, the shape of one data point."""
        return self.record.data_shape

    @property
    def latents(self) -> np.ndarray:
        """(n_nodes, d) float32: the latent point of every node in its chart."""
        return self.record.latents

    @property
    def node_chart(self) -> np.ndarray:
        """(n_nodes,) int64: the model chart of every node."""
        return self.record.node_chart

    @property
    def node_point(self) -> np.ndarray:
        """(n_nodes,) int64: the data point (or prior sample) of every node."""
        return self.record.node_point

    @property
    def positions(self) -> np.ndarray:
        """(n_nodes, D) float32: the decoding of every node (a graph built with ``node_decodes="on_demand"`` decodes
        the nodes not decoded yet first)."""
        node_positions.complete_positions(self.record, self.model)
        return self.record.positions

    @property
    def edge_weights(self) -> GraphWeights:
        """The edge weights and which are exact (:mod:`agm.geodesic.graph.weights`)."""
        return self.record.edge_weights

    @property
    def decode_policy(self) -> DecodePolicy | None:
        """How the decoder runs for this graph's queries (threads, batch size; None for an old file)."""
        return self.record.decode_policy

    @property
    def fingerprint(self) -> dict[str, object]:
        """The fingerprint of the model the graph was built for."""
        return self.record.fingerprint

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent in each build stage (empty for a loaded graph)."""
        return self.record.timings

    @property
    def n_nodes(self) -> int:
        """Number of nodes (data points times the charts they belong to)."""
        return self.record.n_nodes

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (intra-chart k-NN edges plus cross-chart edges)."""
        return self.record.n_edges

    @property
    def weights_evaluated(self) -> float:
        """Fraction of intra-chart edge weights decoded (1.0 for an eager graph)."""
        return self.record.weights_evaluated

    def stats(self, diameter: Literal["auto", "exact"] = "auto") -> dict[str, int]:
        """Table 1's statistics (:meth:`agm.geodesic.graph.record.GraphRecord.stats`)."""
        return self.record.stats(diameter)

    def edge_weight(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Weights (float64, inf where there is no edge) of the node pairs (u[i], v[i]), any shape."""
        return self.record.edge_weight(u, v)

    def __repr__(self) -> str:
        return "GeodesicGraph" + repr(self.record).removeprefix("GraphRecord") + f" of a {type(self.model).__name__}"

    # -- queries -------------------------------------------------------------------------------------------
    def shortest_path(self, x0: Points, x1: Points, **options: Unpack[PathOptions]) -> GeodesicPath:
        """The geodesic from x0 to x1 (shape S each): :func:`agm.geodesic.shortest_path` on this graph (the same
        options: ``method``, ``device``, ``decode_policy``, ``lazy_stats``, ``switch_tolerance``, ``attach``)."""
        return search.shortest_path(self.model, x0, x1, self.record, **options)

    def shortest_paths(
        self,
        X0: Points,
        X1: Points,
        *,
        n_threads: int = 0,
        raise_unreachable: bool = True,
        progress: bool | None = None,
        **options: Unpack[PathOptions],
    ) -> list[GeodesicPath | None]:
        """Geodesics of the pairs (X0[b], X1[b]), (B, *S) each: :func:`agm.geodesic.shortest_paths` on this graph
        (None for unreachable pairs only with ``raise_unreachable=False``)."""
        return search.shortest_paths(
            self.model,
            X0,
            X1,
            self.record,
            n_threads=n_threads,
            raise_unreachable=raise_unreachable,
            progress=progress,
            **options,
        )

    def interpolate(
        self,
        x0: Points,
        x1: Points,
        n: int = 10,
        *,
        refine: bool = False,
        **options: Unpack[PathOptions],
    ) -> Interpolation:
        """n decodings, (n, *S) float32 on the CPU, equidistant in decoded arc length along the geodesic from x0 to
        x1 (``refine``: along the refined curve): :func:`agm.geodesic.interpolate` on this graph."""
        n = check_int("n", n, minimum=2)
        path = self.shortest_path(x0, x1, **options)
        return (path.refine() if refine else path).interpolate(n)

    def distances(self, X: Points, Y: Points | None = None, **options: Unpack[DistanceOptions]) -> np.ndarray:
        """(n, m) float64 geodesic distances of X (n, *S) against Y (m, *S; None: X):
        :func:`agm.geodesic.distances` on this graph (options ``n_threads``, ``device``, ``progress``,
        ``lazy_stats``)."""
        return distances_module.distances(self.model, X, Y, self.record, **options)

    def refine(
        self,
        paths: Sequence[GeodesicPath],
        *,
        steps: int = 100,
        points: int = 32,
        keep_in_chart: bool = True,
        change_charts: bool = True,
        tolerance: float = MOVE_TOLERANCE,
    ) -> list[GeodesicPath]:
        """The paths (of this graph's model) refined into smooth curves at this graph's eps:
        :func:`agm.geodesic.refine_paths` with ``eps=graph.eps``."""
        return refine_paths(
            paths,
            steps=steps,
            points=points,
            eps=self.eps,
            keep_in_chart=keep_in_chart,
            change_charts=change_charts,
            tolerance=tolerance,
        )

    def frechet_mean(self, X: Points, *, max_iter: int = 20, tol: float = 1e-3) -> FrechetMean:
        """The Fréchet mean of X (n, *S) on the manifold: :func:`agm.geodesic.frechet_mean` on this graph."""
        return frechet_mean(self.model, X, self.record, max_iter=max_iter, tol=tol)

    # -- weights and exports ---------------------------------------------------------------------------------
    def evaluate_all(self, device: torch.device | str | None = None, progress: bool | None = None) -> int:
        """Decode every edge weight not yet evaluated (a lazy graph becomes the eager graph); the number decoded.

        ``progress``: the decode estimate up front and a bar; None shows them only when the estimate is long and
        stderr is a terminal or a notebook (:mod:`agm._progress`), True/False force them."""
        return completion.evaluate_all(self.record, self.model, device, progress)

    def to_scipy(self, *, weights: Literal["exact", "bounds"] = "exact", progress: bool | None = None) -> csr_array:
        """The (n_nodes, n_nodes) weighted adjacency as a ``scipy.sparse.csr_array`` (:mod:`agm.geodesic.graph.export`:
        exact weights unless ``weights="bounds"``)."""
        return export.to_scipy(self.record, self.model, weights=weights, progress=progress)

    def to_networkx(
        self, *, weights: Literal["exact", "bounds"] = "exact", progress: bool | None = None
    ) -> networkx.Graph:
        """A ``networkx.Graph`` with node attributes chart, data_index, latent (exact weights unless
        ``weights="bounds"``)."""
        return export.to_networkx(self.record, self.model, weights=weights, progress=progress)

    def point_graph(self, *, weights: Literal["exact", "bounds"] = "exact", progress: bool | None = None) -> csr_array:
        """The data-point-level view, nodes of a point contracted (:func:`agm.geodesic.graph.export.point_graph`)."""
        return export.point_graph(self.record, self.model, weights=weights, progress=progress)

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the graph (native arrays, decoded positions, build parameters; not the model) to one file (a graph
        built with ``node_decodes="on_demand"`` decodes the nodes not decoded yet first)."""
        node_positions.complete_positions(self.record, self.model)
        save_graph(self.record, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], model: SemiAtlasModel) -> GeodesicGraph:
        """Read a graph written by :meth:`save` for ``model``.

        Raises:
            ValueError: a file that is not a graph, or a graph built for another model.
        """
        return cls(read_graph(path), model)
