"""The default graph of each model: the one ``shortest_path`` uses when no graph is passed.

Held in a weak-key dictionary, so a graph never keeps its model alive. A model that cannot be weakly referenced
(not an ``nn.Module`` and without ``__weakref__``) has no default graph: ``build_graph`` then returns the graph
without registering it, ``register_graph`` raises TypeError, and every query must pass ``graph=``.
"""

from __future__ import annotations

import weakref
from typing import Any

from agm.geodesic.graph import GeodesicGraph

_LATEST: weakref.WeakKeyDictionary[Any, GeodesicGraph] = weakref.WeakKeyDictionary()


def can_register(model: Any) -> bool:
    """Whether ``model`` can have a default graph (it can be weakly referenced and hashed)."""
    try:
        weakref.ref(model)
        hash(model)
    except TypeError:
        return False
    return True


def latest_graph(model: Any) -> GeodesicGraph:
    """The graph most recently built (or registered) for ``model``; ValueError if there is none."""
    if not can_register(model):
        raise ValueError(
            f"graph must be passed for a {type(model).__name__}: it cannot be weakly referenced, so it has no "
            "default graph"
        )
    try:
        return _LATEST[model]
    except KeyError:
        raise ValueError(
            f"no graph has been built for this {type(model).__name__}; call agm.geodesic.build_graph(model, data) "
            "or pass graph=..."
        ) from None


def register_graph(model: Any, graph: GeodesicGraph) -> None:
    """Make ``graph`` the one used for ``model`` when no graph is passed (e.g. after :meth:`GeodesicGraph.load`).

    Raises:
        ValueError: the graph belongs to another model.
        TypeError: ``model`` cannot be weakly referenced (pass ``graph=`` to every query instead).
    """
    graph.check_model(model)
    if not can_register(model):
        raise TypeError(
            f"model must be weakly referenceable to have a default graph; got a {type(model).__name__}: pass "
            "graph= to every query instead"
        )
    _LATEST[model] = graph
