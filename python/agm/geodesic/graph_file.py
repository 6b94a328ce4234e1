"""The file format of a geodesic graph: the native graph file with the build parameters as JSON metadata."""

from __future__ import annotations

import json
import os

from agm._core import AtlasGraph
from agm.geodesic.graph import GeodesicGraph

FORMAT = "agm.geodesic.graph/1"


def save_graph(graph: GeodesicGraph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` (all native arrays, decoded positions and build parameters) to one file."""
    meta = {
        "format": FORMAT,
        "charts": list(graph.charts),
        "eps": graph.eps,
        "k": graph.k,
        "n_steps": graph.n_steps,
        "data_shape": list(graph.data_shape),
        "fingerprint": graph.fingerprint,
        "nodes": graph.nodes,
        "refine_steps": graph.refine_steps,
    }
    graph.native.save(os.fspath(path), json.dumps(meta))


def read_graph(path: str | os.PathLike[str]) -> GeodesicGraph:
    """Read a graph written by :func:`save_graph`; ValueError for a file that is not one."""
    native = AtlasGraph.load(os.fspath(path))
    try:
        meta = json.loads(native.metadata)
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        return GeodesicGraph(
            native,
            charts=tuple(meta["charts"]),
            eps=meta["eps"],
            k=meta["k"],
            n_steps=meta["n_steps"],
            data_shape=tuple(meta["data_shape"]),
            fingerprint=meta["fingerprint"],
            nodes=meta["nodes"],
            refine_steps=meta["refine_steps"],
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{os.fspath(path)} is an agm graph file but not a geodesic graph ({err})") from err
