"""Queries on a graph record: query points attached (``attach``, ``direct``, ``far``), LazySP rounds
(``lazysp``, ``lazy_distances``, ``lazy_progress``), the route chosen (``routes``, ``switches``, ``layered``),
searches (``search``), distance matrices (``distances``) and what to do when a pair is unreachable (``advice``).

Floor 5 of :mod:`agm.geodesic`: imports :mod:`agm.geodesic.paths` and the floors below; takes the graph's
record and the model as arguments (never a default graph).
"""
