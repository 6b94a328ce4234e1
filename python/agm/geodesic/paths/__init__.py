"""Geodesic paths as results: the curve record (``curve``), its refinement (``refine``), the query's result type
(``path``: :class:`~agm.geodesic.paths.path.GeodesicPath`) and its pictures (``strips``).

Floor 4 of :mod:`agm.geodesic`: imports :mod:`agm.geodesic.refinement`, :mod:`agm.geodesic.graph` and
:mod:`agm.geodesic._support`; never the queries.
"""
