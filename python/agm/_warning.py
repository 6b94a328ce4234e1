"""agm's warning category: results that are computed but likely not what was meant (filter with it)."""

from __future__ import annotations


class AgmWarning(UserWarning):
    """A result agm computed but suspects (e.g. a query point far from every node of the graph).

    Silence it with ``warnings.filterwarnings("ignore", category=agm.AgmWarning)``.
    """
