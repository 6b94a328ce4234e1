"""Support of the geodesic floors: argument checks, the evaluation context, sharding across ranks.

Floor 1 of :mod:`agm.geodesic`: imports nothing of :mod:`agm.geodesic` outside this package (only ``agm._*``,
:mod:`agm.data`, :mod:`agm.models`); every floor above may import it.
"""
