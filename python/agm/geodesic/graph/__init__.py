"""The graph of Algorithm 1 as a record: what it is made of, how it is built, stored and exported.

``curves`` (eq. 10: decoded lengths of straight latent segments), ``policy`` + ``measured_decode`` +
``policy_cache`` (how the decoder runs: threads x batch, measured, remembered), ``nodes`` + ``semi`` + ``modes``
(encoder or decoder nodes), ``fingerprint`` (which model), ``weights`` (lazy and exact edge weights), ``record``
(:class:`~agm.geodesic.graph.record.GraphRecord`), ``file`` (its format), ``build`` (construction),
``completion`` (a lazy graph made eager), ``export`` (scipy, networkx), ``scales`` (the graph's own scales),
``bounds`` (lower bounds in levels, their decodings kept for the next), ``edge_kinds`` (one evaluator and one
bound for every kind of lazy edge).

Floor 2 of :mod:`agm.geodesic`: imports :mod:`agm.geodesic._support` and nothing else of :mod:`agm.geodesic`.
"""
