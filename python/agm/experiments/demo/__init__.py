"""The ``agm demo`` pipeline: one chart must tear a loop, an atlas need not (the rotating-glyph loop or a circle).

Floor rule: these modules import the shared floor of :mod:`agm.experiments` (records, runs, stages, pairs,
geodesics, lengths, tables, figures) and the lower packages, never :mod:`agm.experiments.reproduction`. Inside, from
the bottom: ``settings`` (the sizes), ``results`` (the typed ``results.json``), ``records`` (the in-memory records
of a run: the trained models, the loop's points, the geodesic stage's output), ``report`` and ``figures`` (written
from those), and ``run`` (the stages and the front door :func:`agm.experiments.demo.run.run_demo_result`), which
is the only module that imports ``report`` and ``figures``.

Nothing is imported here: the stages need torch and the native core, the settings and results do not.
"""

from __future__ import annotations
