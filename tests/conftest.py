"""Shared pytest configuration: hypothesis profiles, a seeded random generator, one torch thread.

Profiles (select with ``HYPOTHESIS_PROFILE=<name>``; "ci" is the default):
    ci:  deadline=None, 30 examples per property, derandomized so a CI run is reproducible.
    dev: deadline=None, 200 examples, random seeds: run it locally when changing the native core.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import zlib
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

# The test models are tiny: one torch thread is fastest, and on a shared 2-core machine a second thread makes the
# torch tests several times slower (measured). Set once here for the whole session; AGM_TEST_THREADS=2 runs the
# suite with two intra-op threads (CI does, to catch float32 results that depend on the thread count).
torch.set_num_threads(int(os.environ.get("AGM_TEST_THREADS", "1")))

# Decode policies are remembered per process and in a user cache folder (agm.geodesic.graph.policy_cache): tests never
# write to the user's cache, and each test starts with nothing remembered (see _forget_decode_policies).
os.environ["AGM_POLICY_CACHE"] = "off"

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=30,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=200,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# On a failure hypothesis formats the failing example as a source patch with libcst, whose import emits a
# DeprecationWarning (mypy_extensions.TypedDict); with filterwarnings=error that becomes an INTERNALERROR which
# hides the real failure. Import it once here, warnings silenced.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import hypothesis.extra._patching  # noqa: F401


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A numpy generator seeded from the test's node id, so every test gets its own reproducible stream."""
    return np.random.default_rng([20240611, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture(autouse=True)
def _forget_decode_policies() -> None:
    """Each test measures its decode policies afresh (the in-process memory of agm.geodesic.graph.policy_cache)."""
    from agm.geodesic.graph.policy_cache import forget_policies

    forget_policies()


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> Callable[[torch.nn.Module], list[int]]:
    """``count_decodes(model)``: the model's ``decode`` wrapped for the test; returns the list that every call appends
    its number of latents to."""

    def patch(model: torch.nn.Module) -> list[int]:
        rows: list[int] = []
        decode = model.decode

        def counting(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            rows.append(int(z.shape[0]))
            out: torch.Tensor = decode(z, y)
            return out

        monkeypatch.setattr(model, "decode", counting)
        return rows

    return patch
