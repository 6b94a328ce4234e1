"""Evaluation: reconstruction error (Table 1) and the Fig. 2 figures."""

from __future__ import annotations

from agm.evaluation.figures import plot_chart_samples, plot_confidence_histogram
from agm.evaluation.reconstruction import ReconstructionReport, reconstruction_errors

__all__ = ["ReconstructionReport", "plot_chart_samples", "plot_confidence_histogram", "reconstruction_errors"]
