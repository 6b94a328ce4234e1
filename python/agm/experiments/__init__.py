"""Experiments: the ``agm demo`` (one chart tears a loop, an atlas does not) and the paper's reproduction
(``agm reproduce``: Table 1, Figs. 2-3), with their tables, figures and reports.

Two floors. The modules directly in this package are the shared floor, used by both pipelines: typed records and
their JSON form (``records``, ``result_types``, ``cache``), training or loading a model (``runs``), stage clocks and
thread counts (``stages``), pairs, geodesics and lengths (``pairs``, ``geodesics``, ``lengths``), Markdown/CSV tables
(``tables``) and figures (``figures``). They import the lower packages (:mod:`agm.data`, :mod:`agm.models`,
:mod:`agm.training`, :mod:`agm.geodesic`, :mod:`agm.evaluation`) and each other, never a pipeline. Above them sit
the two pipelines, :mod:`agm.experiments.demo` and :mod:`agm.experiments.reproduction`: each imports the shared
floor and the lower packages, neither imports the other (what both need moves down to the shared floor).

Front doors: :func:`agm.experiments.demo.run.run_demo_result` and :func:`agm.experiments.reproduction.run.run_reproduce`
(imported lazily: this package needs the native core through :mod:`agm.geodesic`).
"""

from __future__ import annotations
