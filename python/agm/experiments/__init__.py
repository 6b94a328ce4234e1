"""Experiments: the ``agm demo`` (one chart tears a loop, an atlas does not) and the paper's reproduction
(``agm reproduce``: Table 1, Figs. 2-3), with their tables, figures and reports.

Front doors: :func:`agm.experiments.demo.run_demo_result` and :func:`agm.experiments.reproduce.run_reproduce` (imported
lazily: this package needs the native core through :mod:`agm.geodesic`).
"""

from __future__ import annotations
