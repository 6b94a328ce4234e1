"""The ``agm reproduce`` pipeline: the paper's MNIST / Fashion-MNIST experiment (Table 1, Figs. 2 and 3), resumable.

Floor rule: these modules import the shared floor of :mod:`agm.experiments` (records, caches, runs, stages, pairs,
geodesics, lengths, tables, figures) and the lower packages, never :mod:`agm.experiments.demo`. Inside, from the
bottom: ``settings`` (the sizes), ``paper`` (Table 1's published values), ``results`` (the typed ``results.json``),
``claims`` (the paper's claims checked on a result), ``refined`` (the refined-curve stage and its cache), ``report``
(Table 1 and ``report.md``), and ``run`` (the stages and the front door
:func:`agm.experiments.reproduction.run.run_reproduce`).

Nothing is imported here: the stages need torch and the native core, the settings and results do not.
"""

from __future__ import annotations
