"""Summary reprs of data records: shape, dtype and range, never the values."""

from __future__ import annotations

import torch

from agm.data import circle, glyph_loop, load_dataset
from agm.data.summary import tensor_summary
from agm.evaluation import ReconstructionReport


def test_tensor_summary_names_shape_dtype_and_range() -> None:
    assert tensor_summary(torch.tensor([[1.0, -2.5], [3.0, 0.0]])) == "float32[2, 2] in [-2.5, 3]"
    assert tensor_summary(torch.arange(5)) == "int64[5] in [0, 4]"
    assert tensor_summary(torch.zeros(0, 3)) == "float32[0, 3]"
    assert tensor_summary(torch.ones(2, dtype=torch.bool)) == "bool[2]"
    assert tensor_summary(None) == "None"


def test_dataset_repr_is_a_summary() -> None:
    ds = load_dataset("glyph-loop", "train", n=300)
    text = repr(ds)
    assert text.startswith("Dataset('glyph-loop', 300 points of shape (1, 28, 28), x=float32[300, 1, 28, 28] in [0, 1]")
    assert "labels=int64[300] in [0, 7]" in text and "params=float32[300, 1]" in text
    assert len(text) < 250 and "tensor(" not in text


def test_manifold_sample_repr_is_a_summary() -> None:
    text = repr(circle(1000, ambient_dim=5))
    assert text.startswith("ManifoldSample(x=float32[1000, 5] in [") and "embedding=float32[2, 5]" in text
    assert len(text) < 200 and "tensor(" not in text
    assert repr(glyph_loop(4)).endswith("embedding=None)")


def test_reconstruction_report_repr_is_a_summary() -> None:
    report = ReconstructionReport(
        errors=torch.tensor([1.0, 3.0, 2.0]), charts=torch.tensor([0, 2, 2]), confidence=torch.tensor([0.5, 1.0, 0.9])
    )
    assert repr(report) == "ReconstructionReport(3 points, mean error 2, charts used 2, mean confidence 0.800)"
