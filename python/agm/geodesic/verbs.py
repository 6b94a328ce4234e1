"""The design card's verbs: ``shortest_path(model, x0, x1)`` and its kin, and the default graph of each model.

There are two doors to the same queries. The object: ``graph = build_graph(model, data)`` returns a
:class:`~agm.geodesic.GeodesicGraph` that holds the graph and its model; ``graph.shortest_path(x0, x1)``,
``graph.distances(X)``, ``graph.refine(paths)`` ... use that graph and nothing else. The verbs:
``shortest_path(model, x0, x1)`` (and ``shortest_paths``, ``distances``, ``interpolate``, ``frechet_mean``) take the
model first and use ``graph=`` when given, else the graph most recently built (or loaded, or registered) for the
model; they are thin functions over the object (they resolve it, then call the query its methods call). That
association lives in this module only: a weak-key map from a model to the graph's *record*, which does not hold the
model, so dropping the last user reference to a model frees the model and its default graph (a map to the object,
which holds its model, would keep both alive for ever). A model that cannot be weakly referenced has no default
graph: pass ``graph=`` to its queries.

Floor: the top of :mod:`agm.geodesic`, above :mod:`agm.geodesic.geodesic_graph`.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Literal, overload

import numpy as np
import torch
from typing_extensions import Unpack

from agm.geodesic._support.checks import DataSource, check_int
from agm.geodesic.geodesic_graph import GeodesicGraph
from agm.geodesic.graph.build import BuildOptions, NodeDecodes, NodeModeName, WeightMode, build_record
from agm.geodesic.graph.file import read_graph
from agm.geodesic.graph.modes import NodeMode
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import AttachRule, GraphRecord
from agm.geodesic.paths.curve import Interpolation
from agm.geodesic.paths.path import GeodesicPath
from agm.geodesic.query import distances as distances_module
from agm.geodesic.query import search
from agm.geodesic.query.distances import DistanceOptions
from agm.geodesic.query.search import PathOptions
from agm.geodesic.statistics import FrechetMean
from agm.geodesic.statistics import frechet_mean as mean_on
from agm.models.protocol import SemiAtlasModel

Points = torch.Tensor | np.ndarray

_LATEST: weakref.WeakKeyDictionary[Any, GraphRecord] = weakref.WeakKeyDictionary()


def can_register(model: object) -> bool:
    """Whether ``model`` can have a default graph (it can be weakly referenced and hashed)."""
    try:
        weakref.ref(model)
        hash(model)
    except TypeError:
        return False
    return True


def latest_graph(model: SemiAtlasModel) -> GeodesicGraph:
    """The graph most recently built, loaded or registered for ``model``, as a :class:`GeodesicGraph`.

    Raises:
        ValueError: there is none, the model cannot have one (it cannot be weakly referenced), or the model's
            weights changed since the graph was built.
    """
    return GeodesicGraph(_latest_record(model), model)


def _latest_record(model: SemiAtlasModel) -> GraphRecord:
    """The record of ``model``'s default graph (ValueError naming the remedy when there is none)."""
    if not can_register(model):
        raise ValueError(
            f"graph must be passed for a {type(model).__name__}: it cannot be weakly referenced, so it has no "
            "default graph"
        )
    try:
        return _LATEST[model]
    except KeyError:
        raise ValueError(
            f"no graph has been built for this {type(model).__name__}; call agm.geodesic.build_graph(model, data) "
            "or pass graph=..."
        ) from None


def register_graph(model: SemiAtlasModel, graph: GeodesicGraph | GraphRecord) -> None:
    """Make ``graph`` the one the verbs use for ``model`` when no graph is passed.

    Raises:
        ValueError: the graph belongs to another model.
        TypeError: ``model`` cannot be weakly referenced (pass ``graph=`` to every query instead), or ``graph`` is
            neither a GeodesicGraph nor a GraphRecord.
    """
    record = _record_of(graph)
    record.check_model(model)
    if not can_register(model):
        raise TypeError(
            f"model must be weakly referenceable to have a default graph; got a {type(model).__name__}: pass "
            "graph= to every query instead"
        )
    _LATEST[model] = record


def _record_of(graph: object) -> GraphRecord:
    if isinstance(graph, GeodesicGraph):
        return graph.record
    if isinstance(graph, GraphRecord):
        return graph
    raise TypeError(f"graph must be a GeodesicGraph; got {type(graph).__name__}")


def _record_for(model: SemiAtlasModel, graph: GeodesicGraph | None) -> GraphRecord:
    """The record a verb queries: ``graph``'s, else that of the model's default graph. The query itself checks
    that it belongs to ``model`` (once: no object is made around it here)."""
    return _latest_record(model) if graph is None else _record_of(graph)


def build_graph(
    model: SemiAtlasModel,
    data: DataSource | None = None,
    k: int = 20,
    eps: float = 0.05,
    n_steps: int = 15,
    *,
    nodes: NodeModeName | NodeMode = "auto",
    weights: WeightMode = "lazy",
    decode_policy: DecodePolicy | None = None,
    device: torch.device | str | None = None,
    attach: AttachRule = "all",
    skip_small_charts: bool = False,
    progress: bool | None = None,
    node_decodes: NodeDecodes = "auto",
) -> GeodesicGraph:
    """Build the multi-chart graph of Algorithm 1 for an AGM (or, without encoders, a semi-AGM).

    For each chart y the points with psi_y(x) > eps are encoded with F_y; a k-NN graph is built in every chart
    (native k-d trees); each edge weighs the decoded length of its straight latent segment in ``n_steps`` steps
    (eq. 10: t_i = i / n_steps, so n_steps - 1 interior decodings); the nodes of one data point in charts i and
    j are joined with weight ||G_i F_i(x) - G_j F_j(x)||. The nodes' decodings are kept for the A* heuristic.
    With one chart this is Chen et al.'s graph exactly. The model runs in eval mode without gradients; its mode
    is restored.

    A model without ``encode`` (a semi-AGM such as InfoGAN), or ``nodes="decoder"``, takes the paper's
    encoder-free route (:mod:`agm.geodesic.graph.semi`): prior samples decoded in each chart are the nodes, and a
    sample that also lies in U_y' is matched in chart y' by a latent search.

    Args:
        model: an AGM (``agm.AtlasModel``) or, for ``nodes="decoder"``, a semi-AGM (``agm.SemiAtlasModel``).
        data: (N, *S) float tensor or array of data points (any device; moved in batches to ``device``).
            Any torch data source works (a Dataset, a DataLoader, a TensorDataset's first tensor). Required for
            ``nodes="encoder"``; with decoder nodes only its length sets the default ``n_samples``.
        k: neighbours per node inside its chart (each chart needs more than k nodes).
        eps: partition threshold in [0, 1): point x joins chart y when psi_y(x) > eps.
        n_steps: segments per edge (eq. 10's n, >= 1; 1 is the decoded chord).
        nodes: "encoder", "decoder" or "auto" ("encoder" when the model has ``encode``), or a node mode object:
            :class:`agm.geodesic.DecoderNodes` holds the decoder route's options (``n_samples``, ``search_steps``
            of the latent search, ``seed``), e.g. ``nodes=DecoderNodes(n_samples=4000, search_steps=20)``.
        device: where the model runs; default the device of its parameters.
        skip_small_charts: leave out charts with k or fewer nodes instead of raising ValueError.
        progress: tqdm bars and the closing "agm: built ..." line. None (default): only when the build is
            estimated long (its decodes at the decode policy's measured rate, over :data:`agm._progress.LONG_S`)
            and stderr is a terminal or a notebook; True/False force them (the command line passes True).
        weights: "lazy" (default): the nodes, their decodings and the structure, with every intra-chart edge at
            its decoded chord (a lower bound of its weight); queries decode only the edges their paths need
            (LazySP, :mod:`agm.geodesic.query.lazysp`) and the graph keeps them. Lengths equal the eager graph's to
            float32 rounding. "eager": every edge decoded now (N + E (n_steps - 1) decodings); the same as a
            lazy graph after ``graph.evaluate_all()``. Why lazy is the default (measured on the loaded 2-core
            CPU, k = 20, n_steps = 15): the first exact geodesic needs only the node decodings (paper decoder
            h = 48, 8 charts, 2,000 points: 2,378 decodes instead of 432,002); 100 pairs decoded 0.4% of the
            edges there, 6% at 200 points (4.1x faster than eager in all); on briefly trained 4-chart demo
            models (MNIST, 300 points) they needed 50% or more of the edges, and took 0.87x eager's wall time
            (0.98x CPU) there. No edge is ever decoded twice, and past 30% of the edges the rest are decoded at
            once (:data:`agm.geodesic.query.lazysp.EAGER_SWITCH`), so a lazy graph never decodes more than an eager
            one. Use "eager" when every edge will be needed anyway (e.g. all-pairs distances).
        decode_policy: torch threads and batch size of the decoder (:class:`agm.geodesic.graph.policy.DecodePolicy`);
            default: the policy remembered for this decoder architecture and machine
            (:mod:`agm.geodesic.graph.policy_cache`; ``AGM_POLICY_CACHE=off`` keeps it to the process), else chosen by
            measurement on the node decodes themselves (:mod:`agm.geodesic.graph.measured_decode`: no extra decodes);
            16384 points and torch's threads on CUDA. A known policy also runs the encoder and psi, and its
            ``batch_size`` sets the points per encoder/decoder call (peak memory is set by it, not by the number of
            edges): ``DecodePolicy(batch_size=256)`` keeps torch's threads. Stored with the graph and used by its
            queries (a query may pass its own).
        attach: how the graph's queries attach a query point (stored with the graph; a query may override it):
            "all" (default) in every chart with psi > eps, "paper" only in its most likely chart, the paper's rule
            (z0, y0) (:mod:`agm.geodesic.query.attach`).
        node_decodes: "auto" (default): "on_demand" where it is possible and the decoder is expensive enough to
            pay (a timed sample of 32 nodes, :mod:`agm.geodesic.graph.node_decode_choice`: decoding every node would
            cost at least 4x the searches on demand adds, and 0.5 s), else "build". "build": the build decodes every
            node (the chords, the cross-chart weights and A*'s heuristic need them). "on_demand" (lazy weights,
            encoder nodes, one process; ValueError otherwise): the build decodes none (a sample of 32 for the
            far-query scale) and the queries decode the nodes their routes could pass
            (:mod:`agm.geodesic.graph.node_positions`): a first geodesic on an expensive decoder needs a fraction of
            the nodes (paper decoder, 2,000 MNIST points: 0.2x the decodes, 0.4x the CPU time of build + query).
            ``distances``, the exports, ``evaluate_all`` and ``save`` decode the remaining nodes first. With a cheap
            decoder on a large graph decoding all nodes up front is faster (the queries search the decoded part
            each round). ``graph.timings["seconds_per_node"]`` holds the sample's cost where "auto" measured it.

    Integer and real arguments may be Python or numpy scalars (bools are refused).

    Inside an initialised torch.distributed process group every rank must call ``build_graph`` with the same
    arguments: the node decodings and (``weights="eager"``) the intra-chart edges are split into contiguous shares
    decoded on each rank's device, and gathered, so every rank returns the same graph (bitwise), equal to the
    single-process build to float32 rounding (see the module docstring). With ``weights="lazy"`` only the node
    decodings are split; a lazy graph's edges are then decoded by the queries (:func:`agm.geodesic.shortest_paths`
    shares its pairs and gathers the edges each rank decoded).

    Returns:
        A :class:`GeodesicGraph` (the graph and ``model``); it also becomes the default graph of ``model`` for the
        verbs such as :func:`shortest_path` (unless the model cannot be weakly referenced: see
        :mod:`agm.geodesic.verbs`).

    Raises:
        TypeError: ``model`` lacks the (semi-)atlas interface, or ``data`` is not a floating tensor/array.
        ValueError: bad shapes, NaN/inf in ``data``, eps outside [0, 1), k < 1, n_steps < 1, a chart with too few
            points, a device this machine does not have, or a model call that fails (naming the method and what
            was passed; the exception keeps the model's type where it can).
    """
    options = BuildOptions(nodes, weights, decode_policy, device, attach, skip_small_charts, progress, node_decodes)
    record = build_record(model, data, k, eps, n_steps, options)
    if can_register(model):
        _LATEST[model] = record
    return GeodesicGraph(record, model)


def load_graph(path: str | os.PathLike[str], model: SemiAtlasModel) -> GeodesicGraph:
    """Load a graph saved with :meth:`GeodesicGraph.save` for ``model``; it becomes the model's default graph.

    Args:
        path: the file.
        model: the model the graph was built for (checked by its fingerprint).

    Raises:
        ValueError: a file that is not a graph (every field checked before use), or a graph of another model.
    """
    graph = GeodesicGraph(read_graph(path), model)
    if can_register(model):
        _LATEST[model] = graph.record
    return graph


def shortest_path(
    model: SemiAtlasModel,
    x0: Points,
    x1: Points,
    graph: GeodesicGraph | None = None,
    **options: Unpack[PathOptions],
) -> GeodesicPath:
    """Geodesic between two data points through the charts of an AGM (Algorithm 1's query).

    As in Chen et al., x0 and x1 are added to the graph: each is encoded and joined to its k nearest nodes in
    every chart where psi > eps (curve-length weights), and x0 and x1 are joined to each other in every chart
    where one is among the other's k nearest neighbours (:mod:`agm.geodesic.query.direct`); so d(x, x) = 0 and
    d(x, y) tends to the true distance as y -> x. Attaching in every chart with psi > eps (not only the encoding's
    chart) is an extension of the paper's rule that can only shorten paths. The native A* finds the shortest
    path through the graph with the heuristic h(v) = ||G(v) - G(x1)||, consistent because every weight is at least
    the distance of its decoded endpoints; the geodesic is the shorter of that path and the direct edge.
    Distances are symmetric; as each query adds only its own two points, the triangle inequality can fail for
    triples of close points (see :mod:`agm.geodesic.query.attach`).

    Among routes no longer than (1 + ``switch_tolerance``) times the shortest, the one with the fewest chart
    switches is returned (then the shortest of those), found exactly by a layered search over (node, switches
    used) (:mod:`agm.geodesic.query.layered`): the two charts' different k-NN sets make the shortest route flip charts
    where nothing in the geometry asks for it (measured: 59 of 120 sphere pairs at tau = 0, 1 at the default).
    ``length`` is the returned route's true graph length and ``shortest_length`` the shortest route's
    (``length_excess``: how much longer, <= tau). ``chart_changes`` then holds transitions that
    no route within the tolerance avoids; what remains are the graph's (see benchmarks/bench_switches.py).

    Args:
        model: the AGM the graph was built for.
        x0, x1: data points of shape S (the graph's ``data_shape``), float, finite.
        graph: the :class:`~agm.geodesic.graph.record.GraphRecord` built for ``model``.
        method: "astar" (default) or "dijkstra" (same result, no heuristic).
        device: where the model runs; default the device of its parameters.
        decode_policy: torch threads and batch size of the decoder (default: the graph's, chosen at build time).
        lazy_stats: if given, filled with what the query decoded (:class:`agm.geodesic.query.lazysp.LazyStats`).
        switch_tolerance: tau >= 0 (default :data:`agm.geodesic.query.layered.SWITCH_TOLERANCE`, 2e-2): routes up to
            (1 + tau) times the shortest compete on chart switches; 0 keeps the shortest route (ties within float32
            rounding, 1e-6, still merge).
        attach: "all" or "paper" (the paper's rule: each query point only in its most likely chart); default the
            graph's ``attach`` (:func:`agm.geodesic.build_graph`).

    Returns:
        A :class:`GeodesicPath` (length, charts, latents, chart_changes, decode(), interpolate(n)).

    Raises:
        ValueError: no graph for the model, a graph of another model, bad shapes or NaN/inf, bad method, a device
            this machine does not have, or a model call that fails or gives NaN/inf (naming the method and the
            query point).
        agm.UnreachableError: x0 and x1 attach to different connected components (a ValueError).
    """
    return search.shortest_path(model, x0, x1, _record_for(model, graph), **options)


@overload
def shortest_paths(
    model: SemiAtlasModel,
    X0: Points,
    X1: Points,
    graph: GeodesicGraph | None = None,
    *,
    n_threads: int = 0,
    raise_unreachable: Literal[True] = True,
    progress: bool | None = None,
    **options: Unpack[PathOptions],
) -> list[GeodesicPath]: ...


@overload
def shortest_paths(
    model: SemiAtlasModel,
    X0: Points,
    X1: Points,
    graph: GeodesicGraph | None = None,
    *,
    n_threads: int = 0,
    raise_unreachable: bool,
    progress: bool | None = None,
    **options: Unpack[PathOptions],
) -> list[GeodesicPath | None]: ...


def shortest_paths(
    model: SemiAtlasModel,
    X0: Points,
    X1: Points,
    graph: GeodesicGraph | None = None,
    *,
    n_threads: int = 0,
    raise_unreachable: bool = True,
    progress: bool | None = None,
    **options: Unpack[PathOptions],
) -> list[GeodesicPath] | list[GeodesicPath | None]:
    """Geodesics for many pairs (X0[b], X1[b]) in one call: batched encoding and weights, one threaded native
    search.

    Args:
        X0, X1: (B, *S) float tensors or arrays.
        n_threads: native search threads; 0 means all cores.
        raise_unreachable: if False, a pair in different components gets None instead of raising.
        progress: a bar over the pairs made exact (and the decode estimate printed first): True/False force it;
            None shows it only for long work that someone can see (:mod:`agm._progress`).
        others: as in :func:`shortest_path`.

    Returns:
        B :class:`GeodesicPath` objects (None for unreachable pairs when ``raise_unreachable`` is False), the same
        as B calls of :func:`shortest_path` up to float32 rounding: the native search is bitwise batch-invariant,
        but the model's float32 encodings and decodings depend on the batch they are computed in (by ~1 ulp), so
        lengths agree to about 1e-6 relative, and where two routes are that close in length either may be chosen.
        Inside an initialised torch.distributed process group (every rank calling with the same arguments) each
        rank solves a contiguous share of the pairs and every rank returns all B paths, the same on every rank
        and equal to one process's to the same float32 rounding; a lazy graph's newly decoded edges are then
        stored on every rank, and ``lazy_stats`` counts all ranks' decodes.
    """
    record = _record_for(model, graph)
    return search.shortest_paths(
        model, X0, X1, record, n_threads=n_threads, raise_unreachable=raise_unreachable, progress=progress, **options
    )


def distances(
    model: SemiAtlasModel,
    X: Points,
    Y: Points | None = None,
    graph: GeodesicGraph | None = None,
    **options: Unpack[DistanceOptions],
) -> np.ndarray:
    """Geodesic distances between all pairs (X[i], Y[j]), like ``scipy.spatial.distance.cdist``.

    Args:
        model: the AGM the graph was built for.
        X: (n, *S) float data points (tensor or array), finite.
        Y: (m, *S) float data points; None means X against itself (a symmetric matrix with an exactly zero
            diagonal).
        graph: the :class:`~agm.geodesic.graph.record.GraphRecord` built for ``model``.
        n_threads: native search threads over the rows, 0 = all cores.
        device: where the model runs; default the device of its parameters.
        progress: a tqdm bar over the pairs (and the decode estimate up front): None shows it only when the
            estimate is long and stderr is a terminal or a notebook (:mod:`agm._progress`); True/False force it.
        lazy_stats: if given, filled with the LazySP rounds and the edges decoded (:class:`LazyStats`).

    Returns:
        (n, m) float64 numpy array of geodesic lengths; ``inf`` where X[i] and Y[j] attach to different connected
        components of the graph and have no direct edge. A lazy graph keeps the weights the routes needed (the
        matrix is the eager graph's: one-to-many LazySP, :mod:`agm.geodesic.query.lazy_distances`). Inside an
        initialised torch.distributed process group (every rank calling with the same arguments) the lazy graph's
        pending edges and the rows of X are split across ranks (each rank still encodes and attaches all of X and
        Y) and every rank returns the whole matrix, the same bytes on every rank.

    Raises:
        ValueError: no graph for the model, a graph of another model, bad shapes or NaN/inf, a device this
            machine does not have, or a failing model call.
        TypeError: ``model`` lacks the atlas interface, ``graph`` is not a GraphRecord, non-float points.
    """
    return distances_module.distances(model, X, Y, _record_for(model, graph), **options)


def frechet_mean(
    model: SemiAtlasModel,
    X: Points,
    graph: GeodesicGraph | None = None,
    *,
    max_iter: int = 20,
    tol: float = 1e-3,
    rtol: float = 1e-5,
    refine_steps: int = 300,
    warm_steps: int = 60,
    points: int = 16,
) -> FrechetMean:
    """The Fréchet (Karcher) mean of data points: the manifold point minimising the sum of squared geodesic
    distances, by descent from the geodesic medoid along refined geodesics (see the module docstring).

    Args:
        model: the AGM the graph was built for.  X: (n, *S) data points (n >= 1).
        graph: the graph's record (:class:`~agm.geodesic.graph.record.GraphRecord`) built for ``model``.
        max_iter: Karcher steps at most, >= 1.
        tol: stop when the tangent mean log vector is shorter than ``tol`` times the root mean squared distance.
        rtol: stop when a step lowers the variance by less than this fraction of it (>= 0).
        refine_steps: most Gauss-Newton evaluations of the first refinement (graph paths from the medoid).
        warm_steps: most Gauss-Newton evaluations of each warm-started refinement, >= 1.
        points: segments per refined geodesic.

    Returns:
        A :class:`FrechetMean` (``point`` on the CPU; ``latent`` in ``chart``).

    Raises:
        ValueError: bad arguments, or data in several components (the medoid is undefined).
    """
    return mean_on(
        model,
        X,
        _record_for(model, graph),
        max_iter=max_iter,
        tol=tol,
        rtol=rtol,
        refine_steps=refine_steps,
        warm_steps=warm_steps,
        points=points,
    )


def interpolate(
    model: SemiAtlasModel,
    x0: Points,
    x1: Points,
    n: int = 10,
    graph: GeodesicGraph | None = None,
    *,
    data: DataSource | None = None,
    k: int = 20,
    eps: float = 0.05,
    n_steps: int = 15,
    refine: bool = False,
    **options: Unpack[PathOptions],
) -> Interpolation:
    """n decodings equidistant in decoded arc length along the geodesic from x0 to x1.

    The same as ``shortest_path(model, x0, x1, graph, ...).interpolate(n)`` (``.refine().interpolate(n)`` with
    ``refine=True``), building the graph first when ``data`` is given.

    Args:
        model: an AGM (``agm.AtlasModel``).
        x0, x1: data points of shape S, float, finite (tensors or arrays).
        n: number of decodings, >= 2 (the ends included).
        graph: the graph to search; default the one built from ``data``, else the graph most recently built for
            ``model``.
        data: (N, *S) points or any torch data source: build the graph on them first (``build_graph(model,
            data, k, eps, n_steps)``, quiet); not together with ``graph``.
        k, eps, n_steps: the graph's parameters when it is built from ``data`` (ignored otherwise).
        refine: refine the graph geodesic into a smooth curve first (needs a differentiable ``decode``).
        **options: as in :func:`shortest_path` (``method``, ``device``, ``decode_policy``, ``switch_tolerance``,
            ``attach``, ``lazy_stats``).

    Returns:
        An :class:`agm.geodesic.Interpolation`: ``x`` (n, *S) float32 on the CPU, ``charts``, ``labels``,
        ``arc_length``, ``latents``.

    Raises:
        ValueError: n < 2, both ``graph`` and ``data``, no graph for the model, or what ``build_graph`` /
            ``shortest_path`` raise. agm.UnreachableError: x0 and x1 lie in different components.
    """
    n = check_int("n", n, minimum=2)
    if data is not None:
        if graph is not None:
            raise ValueError("interpolate takes graph= or data= (to build one), not both")
        graph = build_graph(model, data, k=k, eps=eps, n_steps=n_steps, progress=False)
    path = search.shortest_path(model, x0, x1, _record_for(model, graph), **options)
    return (path.refine() if refine else path).interpolate(n)
