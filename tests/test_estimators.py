"""agm.estimators: scikit-learn's estimator checks, and each estimator against an oracle on closed-form atlases."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.decomposition import KernelPCA
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch.utils.data import DataLoader, TensorDataset

from agm import UnreachableError, geodesic
from agm.estimators import AtlasIsomap, GeodesicDistance, GeodesicKMedoids
from agm.models.analytic import CircleAtlas, CylinderAtlas

# The estimators are bound to a model, and a model's points have one shape: a check whose data has another number
# of features than the model's points cannot apply (fit refuses it with a ValueError naming n_features and decode).
# Each estimator is checked bound to a circle in R^2 and to a cylinder in R^3, so every check on 2- or 3-feature
# data runs against a model it fits; the n_features each check uses (scikit-learn 1.9):
CHECK_FEATURES = {
    "check_clustering": 2,
    "check_estimators_fit_returns_self": 2,
    "check_estimators_overwrite_params": 2,
    "check_fit_check_is_fitted": 2,
    "check_fit_idempotent": 2,
    "check_n_features_in": 2,
    "check_readonly_memmap_input": 2,
    "check_dict_unchanged": 3,
    "check_dont_overwrite_parameters": 3,
    "check_estimators_nan_inf": 3,
    "check_estimators_pickle": 3,
    "check_f_contiguous_array_estimator": 3,
    "check_fit2d_predict1d": 3,
    "check_fit_score_takes_y": 3,
    "check_methods_sample_order_invariance": 3,
    "check_methods_subset_invariance": 3,
    "check_pipeline_consistency": 3,
    "check_transformer_data_not_an_array": 3,
    "check_transformer_general": 3,
    "check_transformer_preserve_dtypes": 3,
    # checks on other feature counts, which no model of these tests has: skipped on both
    "check_positive_only_tag_during_fit": 4,  # iris
    "check_n_features_in_after_fitting": 4,
    "check_estimators_dtypes": 5,
    "check_dtype_object": 10,
}
#: Checks that fail for a reason other than the feature count, and why.
OTHER_FAILURES = {
    # joblib.hash of a deep-copied torch module differs from the original's (torch pickles storages by identity),
    # so the check sees a changed `model` where fit changes nothing: test_fit_leaves_the_model_unchanged checks it.
    ("CircleAtlas", "check_estimators_overwrite_params"): "joblib.hash of a deep-copied torch module differs",
}
#: AtlasIsomap refuses a graph with several components (geodesic distances between them do not exist): the
#: 30 random 3-D points of these checks leave the cylinder's graph in two components at k = 8.
ISOMAP_DISCONNECTED = (
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The checks that do not apply to this estimator's model, with the reason (see CHECK_FEATURES)."""
    dim = 2 if isinstance(estimator.model, CircleAtlas) else 3
    name = type(estimator.model).__name__
    out = {
        check: f"uses {n} features; the model's points have {dim}" for check, n in CHECK_FEATURES.items() if n != dim
    }
    out.update({check: why for (model, check), why in OTHER_FAILURES.items() if model == name})
    if isinstance(estimator, AtlasIsomap) and dim == 3:
        out.update({check: "random points leave the graph in two components" for check in ISOMAP_DISCONNECTED})
    return out


def _estimators() -> list[Any]:
    out: list[Any] = []
    for model in (CircleAtlas(), CylinderAtlas()):
        out += [
            GeodesicDistance(model, k=8, n_steps=2),
            AtlasIsomap(model, k=8, n_steps=2),
            GeodesicKMedoids(model, n_clusters=2, k=8, n_steps=2),
        ]
    return out


@pytest.mark.filterwarnings("ignore::agm.AgmWarning")  # the checks' random points lie off the circle/cylinder
@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn's own warnings about the checks it runs
@parametrize_with_checks(_estimators(), expected_failed_checks=expected_failed_checks)
def test_scikit_learn_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def _cylinder(n: int, seed: int, theta_span: float = 2.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    theta = (torch.rand(n, generator=g) * 2 - 1) * theta_span
    h = torch.rand(n, generator=g) * 2
    return CylinderAtlas().points(theta, h), theta, h


def test_distance_transformer_is_agm_distances_to_the_fitted_points() -> None:
    model = CylinderAtlas()
    X, _, _ = _cylinder(300, seed=0)
    Y, _, _ = _cylinder(20, seed=1)
    est = GeodesicDistance(model, k=10, n_steps=4).fit(X.numpy())
    D = est.transform(Y.numpy())
    assert D.shape == (20, 300) and D.dtype == np.float64
    expected = geodesic.distances(model, Y, X, graph=est.graph_)
    np.testing.assert_allclose(D, expected, rtol=1e-6, atol=1e-7)
    # the cylinder charts are isometries: geodesic lengths approach the true distances (graph discretisation)
    theta_y, h_y = model.cylindrical(Y)
    theta_x, h_x = model.cylindrical(X)
    true = model.distance(theta_y[:, None], h_y[:, None], theta_x[None, :], h_x[None, :]).numpy()
    assert np.median(D / np.maximum(true, 1e-9)) == pytest.approx(1.0, abs=0.06)
    square = est.fit_transform(X.numpy())
    np.testing.assert_array_equal(np.diag(square), 0.0)
    np.testing.assert_allclose(square, square.T, rtol=1e-6, atol=1e-7)


def test_distance_transformer_gives_inf_where_unreachable() -> None:
    model = CylinderAtlas()
    X, _, _ = _cylinder(200, seed=2)
    far_band = X.clone()
    far_band[:, 2] += 10.0  # a second band of heights 10-12: no k-NN edge reaches it
    est = GeodesicDistance(model, k=6, n_steps=2).fit(torch.cat([X, far_band]).numpy())
    D = est.transform(X[:5].numpy())
    assert np.isinf(D[:, 200:]).all() and np.isfinite(D[:, :200]).all()


def test_isomap_unrolls_the_cylinder_across_its_charts() -> None:
    model = CylinderAtlas()
    X, theta, h = _cylinder(400, seed=3)  # theta in [-2.5, 2.5]: both charts, an isometric strip 5 x 2
    est = AtlasIsomap(model, n_components=2, k=10, n_steps=4).fit(X.numpy())
    truth = torch.stack([theta, h], dim=1).double().numpy()
    residual = _procrustes_residual(est.embedding_, truth)
    assert residual < 0.05 * 5.0  # under 5% of the strip's length (graph paths zigzag a little)
    # classical MDS oracle: kernel PCA of the double-centred -D^2 / 2 has the same coordinates (up to sign)
    kpca = KernelPCA(n_components=2, kernel="precomputed").fit_transform(-0.5 * est.dist_matrix_**2)
    np.testing.assert_allclose(np.abs(kpca), np.abs(est.embedding_), rtol=1e-6, atol=1e-6)
    # landmark MDS: the fitted points placed again land on their embedding; new points near their true place
    np.testing.assert_allclose(est.transform(X[:50].numpy()), est.embedding_[:50], rtol=1e-4, atol=1e-4)
    Y, theta_y, h_y = _cylinder(60, seed=4, theta_span=2.3)
    placed = est.transform(Y.numpy())
    both = np.concatenate([est.embedding_, placed])
    truth_both = np.concatenate([truth, torch.stack([theta_y, h_y], dim=1).double().numpy()])
    assert _procrustes_residual(both, truth_both) < 0.05 * 5.0


def _procrustes_residual(embedding: np.ndarray, truth: np.ndarray) -> float:
    """RMS distance after the best rotation/reflection and translation of ``embedding`` onto ``truth``."""
    a, b = embedding - embedding.mean(axis=0), truth - truth.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    return float(np.sqrt(((a @ u @ vt - b) ** 2).sum(axis=1).mean()))


def test_isomap_refuses_disconnected_data_naming_the_components() -> None:
    model = CylinderAtlas()
    X, _, _ = _cylinder(100, seed=5)
    far_band = X.clone()
    far_band[:, 2] += 10.0
    with pytest.raises(UnreachableError, match="2 connected components at k=6"):
        AtlasIsomap(model, k=6, n_steps=2).fit(torch.cat([X, far_band]).numpy())


def test_kmedoids_is_pam_on_the_geodesic_distances_and_predicts_the_nearest_medoid() -> None:
    model = CylinderAtlas()
    X, theta, _ = _cylinder(300, seed=6, theta_span=math.pi)
    est = GeodesicKMedoids(model, n_clusters=3, k=10, n_steps=2, random_state=7).fit(X.numpy())
    reference = geodesic.k_medoids(est.dist_matrix_, 3, seed=7)
    np.testing.assert_array_equal(est.labels_, reference.labels)
    np.testing.assert_array_equal(est.medoid_indices_, reference.medoids)
    np.testing.assert_array_equal(est.cluster_centers_, X.numpy()[reference.medoids])
    assert est.inertia_ == pytest.approx(reference.cost)
    Y, _, _ = _cylinder(40, seed=8, theta_span=math.pi)
    to_medoids = geodesic.distances(model, Y, X[torch.from_numpy(est.medoid_indices_)], graph=est.graph_)
    np.testing.assert_array_equal(est.predict(Y.numpy()), to_medoids.argmin(axis=1))
    assert np.array_equal(est.fit_predict(X.numpy()), est.labels_)


def test_kmedoids_labels_points_that_reach_no_medoid_minus_one() -> None:
    model = CylinderAtlas()
    X, _, _ = _cylinder(150, seed=9)
    other_band = _cylinder(60, seed=10)[0]
    other_band[:, 2] += 10.0  # heights 10-12: a second component, smaller, so the single medoid lies in X's
    est = GeodesicKMedoids(model, n_clusters=1, k=6, n_steps=2).fit(torch.cat([X, other_band]).numpy())
    assert est.medoid_indices_[0] < 150
    labels = est.predict(torch.cat([X[:3], other_band[:4]]).numpy())
    np.testing.assert_array_equal(labels, [0, 0, 0, -1, -1, -1, -1])


def test_estimators_take_torch_data_sources_and_image_shaped_points() -> None:
    model = CylinderAtlas(ambient_shape=(1, 2, 3))
    g = torch.Generator().manual_seed(10)
    points = model.points(torch.rand(120, generator=g) * 5 - 2.5, torch.rand(120, generator=g))  # (120, 1, 2, 3)
    loader = DataLoader(TensorDataset(points, torch.zeros(120)), batch_size=17)
    from_loader = GeodesicDistance(model, k=8, n_steps=2).fit(loader)
    assert from_loader.data_shape_ == (1, 2, 3) and from_loader.n_features_in_ == 6
    flat = GeodesicDistance(model, k=8, n_steps=2, data_shape=(1, 2, 3)).fit(points.reshape(120, -1).numpy())
    np.testing.assert_allclose(
        from_loader.transform(points[:4]), flat.transform(points[:4].reshape(4, -1).numpy()), rtol=1e-6, atol=1e-7
    )


def test_pickled_estimators_give_the_same_results() -> None:
    model = CylinderAtlas()
    X, _, _ = _cylinder(150, seed=11)
    est = AtlasIsomap(model, k=8, n_steps=2).fit(X.numpy())
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X[:10].numpy()), est.transform(X[:10].numpy()))
    assert hasattr(est, "graph_")  # pickling leaves the original fitted


def test_fit_leaves_the_model_unchanged() -> None:
    model = CylinderAtlas().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X, _, _ = _cylinder(100, seed=12)
    GeodesicKMedoids(model, n_clusters=2, k=8, n_steps=2).fit(X.numpy())
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_parameters_are_named() -> None:
    model = CylinderAtlas()
    X, _, _ = _cylinder(50, seed=13)
    with pytest.raises(ValueError, match="GeodesicDistance needs model="):
        GeodesicDistance().fit(X.numpy())
    with pytest.raises(ValueError, match=r"n_clusters must be an int in \[1, n_samples = 50\]; got 51"):
        GeodesicKMedoids(model, n_clusters=51, k=8, n_steps=2).fit(X.numpy())
    with pytest.raises(ValueError, match="n_components must be a positive int; got 0"):
        AtlasIsomap(model, n_components=0, k=8).fit(X.numpy())
    with pytest.raises(ValueError, match=r"data_shape must hold n_features = 3 entries; got \(2, 2\)"):
        GeodesicDistance(model, data_shape=(2, 2)).fit(X.numpy())
    with pytest.raises(ValueError, match=r"X has n_features = 2 .*model\.decode must return"):
        GeodesicDistance(model, k=8).fit(X[:, :2].numpy())
    with pytest.raises(ValueError, match="n_samples = 5 is too few"):
        GeodesicDistance(model, k=8).fit(X[:5].numpy())


def test_missing_scikit_learn_names_the_extra() -> None:
    code = "import sys; sys.modules['sklearn'] = None\ntry:\n    import agm.estimators\nexcept ModuleNotFoundError as e:\n    print(e)"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "agm.estimators needs scikit-learn" in out and "pip install 'agm[sklearn]'" in out
