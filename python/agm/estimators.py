"""scikit-learn estimators on an atlas model's geodesic distances: a distance transformer, Isomap across charts and
geodesic k-medoids.

Needs scikit-learn (``pip install 'agm[sklearn]'``); this is the only module of agm that imports it.

Every estimator is bound to one atlas model (the ``model`` parameter; it is not trained by ``fit``). ``fit(X)``
builds the model's graph of Algorithm 1 on the training points (:func:`agm.geodesic.build_graph`, quiet) and keeps
it in ``graph_``; new points are measured through that graph, never by refitting.

Inputs follow scikit-learn: ``X`` is (n_samples, n_features) float, one flattened data point a row, reshaped to
``data_shape`` for the model (default ``(n_features,)``; pass e.g. ``data_shape=(1, 28, 28)`` for MNIST models).
A torch data source (``DataLoader``, ``Dataset`` of tensors or ``(x, ...)`` tuples, ``agm.data.Dataset``) or a
tensor/array with more than two dimensions is also taken: its rows are flattened and its point shape becomes the
default ``data_shape``. The model runs on float32 points, on its own device.

* :class:`GeodesicDistance`: ``transform(Y)`` is the (n_new, n_fitted) matrix of geodesic distances from new points
  to the fitted ones, ``inf`` where unreachable (like giotto-tda's ``GraphGeodesicDistance``); hand it to any
  estimator that takes ``metric="precomputed"``.
* :class:`AtlasIsomap`: Isomap whose distances are the atlas' geodesics, so it embeds data spread over several
  charts: classical MDS of the fitted points, new points placed by landmark MDS (de Silva and Tenenbaum, 2004)
  from their geodesic distances to the fitted points (``transform(X_fit)`` gives ``embedding_`` back).
* :class:`GeodesicKMedoids`: PAM k-medoids (:func:`agm.geodesic.k_medoids`) on the geodesic distances; ``predict``
  assigns new points to their geodesically nearest medoid.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from typing import Any

import numpy as np
import torch

from agm._optional import missing_extra

try:
    from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as _err:  # pragma: no cover - exercised by tests/test_estimators_optional.py in a subprocess
    raise missing_extra("sklearn", "agm.estimators") from _err

from agm._core import UnreachableError
from agm.geodesic._support.checks import check_decode_shape, data_tensor
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic.geodesic_graph import GeodesicGraph
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.statistics import k_medoids
from agm.geodesic.verbs import build_graph, load_graph
from agm.models.protocol import SemiAtlasModel, model_device

__all__ = ["AtlasIsomap", "GeodesicDistance", "GeodesicKMedoids"]


def _rows(est: Any, X: Any, *, reset: bool) -> torch.Tensor:
    """Validate X with scikit-learn and return it as a (n, *data_shape) float32 tensor for the model.

    On ``reset`` (fit) the point shape is stored in ``est.data_shape_``: the ``data_shape`` parameter, else the
    shape of a torch data source's / n-dimensional array's points, else ``(n_features,)``.
    """
    source = data_tensor("X", X)
    point_shape: tuple[int, ...] | None = None
    if isinstance(source, (torch.Tensor, np.ndarray)) and source.ndim > 2:
        point_shape = tuple(int(s) for s in source.shape[1:])
        source = source.reshape(source.shape[0], -1)
    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().numpy()
    flat = validate_data(est, source, reset=reset, dtype=[np.float32, np.float64])
    if reset:
        shape = est.data_shape if est.data_shape is not None else point_shape or (flat.shape[1],)
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != flat.shape[1]:
            raise ValueError(f"data_shape must hold n_features = {flat.shape[1]} entries; got {shape}")
        est.data_shape_ = shape
    return torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32)).reshape(-1, *est.data_shape_)


def _fit_graph(est: Any, X: Any) -> torch.Tensor:
    """Build ``est.graph_`` on X for ``est.model``; return the fitted points (n, *data_shape) float32."""
    if est.model is None:
        raise ValueError(f"{type(est).__name__} needs model=, an atlas model (agm.AtlasModel); got None")
    points = _rows(est, X, reset=True)
    if points.shape[0] <= est.k:
        raise ValueError(
            f"n_samples = {points.shape[0]} is too few: the graph needs more than k = {est.k} points in a chart"
        )
    with evaluating(est.model):
        try:
            check_decode_shape(est.model, est.data_shape_, model_device(est.model))
        except ValueError as err:
            shape = est.data_shape_
            raise ValueError(f"X has n_features = {est.n_features_in_} (points of shape {shape}): {err}") from err
    est.graph_ = build_graph(
        est.model,
        points,
        k=est.k,
        eps=est.eps,
        n_steps=est.n_steps,
        decode_policy=DecodePolicy(batch_size=est.batch_size) if est.batch_size else None,
        progress=False,
        skip_small_charts=True,
    )
    est.fit_points_ = points
    return points


def _to_fitted(est: Any, Y: Any) -> np.ndarray:
    """(m, n_fitted) float64 geodesic distances from new points Y to the fitted points (inf where unreachable)."""
    check_is_fitted(est, "graph_")
    points = _rows(est, Y, reset=False)
    graph: GeodesicGraph = est.graph_
    return graph.distances(points, est.fit_points_, n_threads=est.n_threads)


def _check_reachable(D: np.ndarray, graph: GeodesicGraph, what: str) -> None:
    """UnreachableError (a ValueError) when D has an infinite entry, with the graph's component count."""
    if not bool(np.isfinite(D).all()):
        rows = np.flatnonzero(~np.isfinite(D).all(axis=1))
        raise UnreachableError(
            f"{what}: {rows.size} point(s) (first: row {int(rows[0])}) cannot reach every fitted point; the graph "
            f"has {len(graph.native.component_sizes)} connected components at k={graph.k}, eps={graph.eps}: "
            "a larger k joins a chart that splits, a smaller eps charts that do not overlap"
        )


class _GraphEstimator(BaseEstimator):  # type: ignore[misc]
    """Pickling for the estimators: the fitted graph (a native object) travels as the bytes of its file
    (:meth:`agm.geodesic.GeodesicGraph.save`) and is bound again to the unpickled model."""

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__
        graph = state.pop("graph_", None)
        if graph is not None:
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "graph.agm")
                graph.save(path)
                with open(path, "rb") as f:
                    state["_graph_file"] = f.read()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_graph_file", None)
        super().__setstate__(state)
        if blob is not None:
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "graph.agm")
                with open(path, "wb") as f:
                    f.write(blob)
                self.graph_ = load_graph(path, self.model)


class GeodesicDistance(TransformerMixin, _GraphEstimator):  # type: ignore[misc]
    """Geodesic distances through an atlas model's graph, as a scikit-learn transformer.

    ``fit(X)`` builds the graph on X; ``transform(Y)`` returns the (n_new, n_fitted) float64 geodesic distances from
    Y's rows to the fitted points, ``inf`` where a pair is unreachable; ``fit_transform(X)`` the symmetric (n, n)
    matrix with a zero diagonal. Feed it to ``DBSCAN(metric="precomputed")``, ``TSNE(metric="precomputed")``, ...

    Args:
        model: the atlas model (``agm.AtlasModel``; any device).
        k, eps, n_steps, batch_size: the graph's (:func:`agm.geodesic.build_graph`); charts with k or fewer fitted
            points are left out.
        data_shape: the model's point shape (default: see the module docstring).
        n_threads: native search threads, 0 = all cores.

    Attributes:
        graph_: the :class:`agm.geodesic.GeodesicGraph`.
        fit_points_: (n, *data_shape) float32 CPU tensor.
        data_shape_: the point shape used.
        n_features_in_: X's columns.
    """

    def __init__(
        self,
        model: SemiAtlasModel | None = None,
        *,
        k: int = 10,
        eps: float = 0.05,
        n_steps: int = 15,
        data_shape: tuple[int, ...] | None = None,
        batch_size: int | None = None,
        n_threads: int = 0,
    ) -> None:
        self.model = model
        self.k = k
        self.eps = eps
        self.n_steps = n_steps
        self.data_shape = data_shape
        self.batch_size = batch_size
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> GeodesicDistance:
        """Build the graph on X (n, n_features); ``y`` is ignored."""
        _fit_graph(self, X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(m, n_fitted) float64 geodesic distances from X's rows to the fitted points (inf: unreachable)."""
        return _to_fitted(self, X)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on X and return its (n, n) float64 geodesic distance matrix (symmetric, zero diagonal)."""
        points = _fit_graph(self, X)
        return self.graph_.distances(points, n_threads=self.n_threads)


class AtlasIsomap(TransformerMixin, _GraphEstimator):  # type: ignore[misc]
    """Isomap across the charts of an atlas model: classical MDS of the fitted points' geodesic distances.

    ``fit(X)`` builds the graph, measures all (n, n) geodesic distances D and embeds them: with the double-centred
    K = -1/2 J D^2 J (J = I - 11^T / n) and its top ``n_components`` eigenpairs (lambda_i, v_i), the embedding is
    v_i sqrt(lambda_i). ``transform(Y)`` places new points by landmark MDS from their squared distances d^2 to the
    fitted points: y_i = -1/2 v_i^T (d^2 - mean_j D^2[:, j]) / sqrt(lambda_i), which returns ``embedding_`` for
    the fitted points themselves.

    Args:
        model: the atlas model.
        n_components: dimensions of the embedding.
        k, eps, n_steps, batch_size, data_shape, n_threads: as in :class:`GeodesicDistance`.

    Attributes:
        embedding_: (n, n_components) float64.
        eigenvalues_: (n_components,) float64, descending (0 where K has fewer positive eigenvalues).
        dist_matrix_: (n, n) float64 geodesic distances.
        graph_: as in :class:`GeodesicDistance` (so are ``fit_points_``, ``data_shape_``, ``n_features_in_``).

    Raises (fit, transform):
        agm.UnreachableError: a point reaches not every fitted point (the graph has several components).
    """

    embedding_: np.ndarray
    eigenvalues_: np.ndarray
    dist_matrix_: np.ndarray
    _landmark_map: np.ndarray
    _mean_squared: np.ndarray

    def __init__(
        self,
        model: SemiAtlasModel | None = None,
        *,
        n_components: int = 2,
        k: int = 10,
        eps: float = 0.05,
        n_steps: int = 15,
        data_shape: tuple[int, ...] | None = None,
        batch_size: int | None = None,
        n_threads: int = 0,
    ) -> None:
        self.model = model
        self.n_components = n_components
        self.k = k
        self.eps = eps
        self.n_steps = n_steps
        self.data_shape = data_shape
        self.batch_size = batch_size
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> AtlasIsomap:
        """Embed X (n, n_features); ``y`` is ignored."""
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, numbers.Integral):
            raise ValueError(f"n_components must be a positive int; got {self.n_components!r}")
        if self.n_components < 1:
            raise ValueError(f"n_components must be a positive int; got {self.n_components!r}")
        points = _fit_graph(self, X)
        D = self.graph_.distances(points, n_threads=self.n_threads)
        _check_reachable(D, self.graph_, "AtlasIsomap.fit")
        squared = D**2
        n = squared.shape[0]
        centred = squared - squared.mean(axis=0)[None, :] - squared.mean(axis=1)[:, None] + squared.mean()
        values, vectors = np.linalg.eigh(-0.5 * centred)
        top = np.argsort(values)[::-1][: min(int(self.n_components), n)]
        values = np.clip(values[top], 0.0, None)
        vectors = vectors[:, top]
        vectors *= np.where(vectors[np.abs(vectors).argmax(axis=0), range(top.size)] < 0, -1.0, 1.0)  # fixed signs
        if top.size < self.n_components:  # fewer points than dimensions: the rest are 0
            values = np.concatenate([values, np.zeros(self.n_components - top.size)])
            vectors = np.concatenate([vectors, np.zeros((n, self.n_components - top.size))], axis=1)
        root = np.sqrt(values)
        self.eigenvalues_ = values
        self.dist_matrix_ = D
        self.embedding_ = vectors * root[None, :]
        self._landmark_map = vectors / np.where(root > 0, root, np.inf)[None, :]  # (n, c): L^# transposed
        self._mean_squared = squared.mean(axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(m, n_components) float64 coordinates of new points by landmark MDS on their geodesic distances."""
        D = _to_fitted(self, X)
        _check_reachable(D, self.graph_, "AtlasIsomap.transform")
        out: np.ndarray = -0.5 * (D**2 - self._mean_squared[None, :]) @ self._landmark_map
        return out

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on X and return ``embedding_``, (n, n_components) float64."""
        embedding: np.ndarray = self.fit(X).embedding_
        return embedding


class GeodesicKMedoids(ClusterMixin, _GraphEstimator):  # type: ignore[misc]
    """k-medoids (PAM, :func:`agm.geodesic.k_medoids`) on an atlas model's geodesic distances.

    Args:
        model: the atlas model. n_clusters: number of medoids (at most the number of fitted points).
        random_state: int or None (then a random seed): the seed of PAM's tie-breaking order.
        max_swaps: at most this many PAM swaps.
        k, eps, n_steps, batch_size, data_shape, n_threads: as in :class:`GeodesicDistance`.

    Attributes:
        labels_: (n,) int64 cluster of every fitted point.
        medoid_indices_: (n_clusters,) int64 rows of X.
        cluster_centers_: (n_clusters, n_features) float, the medoids' rows of X.
        inertia_: the sum of the distances to the nearest medoid (inf if a point reaches none).
        n_iter_: swaps made.
        dist_matrix_: (n, n) float64 geodesic distances of the fitted points.
        graph_: as in :class:`GeodesicDistance` (so are ``fit_points_``, ``data_shape_``, ``n_features_in_``).
    """

    labels_: np.ndarray
    medoid_indices_: np.ndarray

    def __init__(
        self,
        model: SemiAtlasModel | None = None,
        *,
        n_clusters: int = 8,
        random_state: int | None = 0,
        max_swaps: int = 1000,
        k: int = 10,
        eps: float = 0.05,
        n_steps: int = 15,
        data_shape: tuple[int, ...] | None = None,
        batch_size: int | None = None,
        n_threads: int = 0,
    ) -> None:
        self.model = model
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.max_swaps = max_swaps
        self.k = k
        self.eps = eps
        self.n_steps = n_steps
        self.data_shape = data_shape
        self.batch_size = batch_size
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> GeodesicKMedoids:
        """Cluster X (n, n_features); ``y`` is ignored."""
        points = _fit_graph(self, X)
        n = points.shape[0]
        if isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, numbers.Integral):
            raise ValueError(f"n_clusters must be an int in [1, n_samples]; got {self.n_clusters!r}")
        if not 1 <= self.n_clusters <= n:
            raise ValueError(f"n_clusters must be an int in [1, n_samples = {n}]; got {self.n_clusters!r}")
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        D = self.graph_.distances(points, n_threads=self.n_threads)
        clustering = k_medoids(D, int(self.n_clusters), seed=seed, max_swaps=self.max_swaps)
        self.dist_matrix_ = D
        self.labels_ = clustering.labels
        self.medoid_indices_ = clustering.medoids
        self.cluster_centers_ = points.reshape(n, -1)[torch.from_numpy(clustering.medoids)].numpy()
        self.inertia_ = clustering.cost
        self.n_iter_ = clustering.swaps
        return self

    def predict(self, X: Any) -> np.ndarray:
        """(m,) int64: the cluster of each row of X, its geodesically nearest medoid (lowest cluster on ties), or
        -1 for a point that reaches no medoid through the graph (as DBSCAN labels noise)."""
        check_is_fitted(self, "graph_")
        points = _rows(self, X, reset=False)
        centres = self.fit_points_[torch.from_numpy(self.medoid_indices_)]
        D = self.graph_.distances(points, centres, n_threads=self.n_threads)
        labels: np.ndarray = np.where(np.isfinite(D).any(axis=1), D.argmin(axis=1), -1).astype(np.int64)
        return labels

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Fit on X and return ``labels_``, (n,) int64."""
        labels: np.ndarray = self.fit(X).labels_
        return labels
