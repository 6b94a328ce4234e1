"""Curves through the atlas, refined: the padded batch, the Gauss-Newton descent of their discrete energy, and
the choice of their charts (``curve_batch``, ``energy_layout``, ``evaluation``, ``banded_step``, ``gauss_newton``,
``recharting``, ``refine_curves``, ``differentiable``).

Floor 3 of :mod:`agm.geodesic`: imports :mod:`agm.geodesic.graph` (decoding, eq. 10) and
:mod:`agm.geodesic._support` only; knows nothing of paths or queries.
"""
