"""Evaluation: reconstruction error (Table 1) and the Fig. 2 figures.

Floor: above :mod:`agm.models` (beside :mod:`agm.training`); never imports :mod:`agm.geodesic` or higher.
"""

from __future__ import annotations

from agm.evaluation.figures import plot_chart_samples, plot_confidence_histogram
from agm.evaluation.reconstruction import ReconstructionReport, reconstruction_errors

__all__ = ["ReconstructionReport", "plot_chart_samples", "plot_confidence_histogram", "reconstruction_errors"]
