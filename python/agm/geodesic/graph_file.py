"""The file format of a geodesic graph: the native graph file with the build parameters as JSON metadata.

Besides the build parameters the metadata holds the decode policy (``decode_policy``: threads, batch size) and,
for a graph with lazy weights, which edges are evaluated (``evaluated``: the (n_edges,) mask as base64 of
``np.packbits``; absent when every edge is). Files without them (written before) load as eager graphs without a
policy. ``attach`` (the query attachment rule) defaults to "all" when absent.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np

from agm._core import AtlasGraph
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.policy import DecodePolicy

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
        "attach": graph.attach,
    }
    if graph.decode_policy is not None:
        meta["decode_policy"] = graph.decode_policy.to_json()
    weights = graph.edge_weights
    if not weights.complete:
        meta["evaluated"] = _pack_mask(weights.evaluated)
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
            decode_policy=DecodePolicy.from_json(meta["decode_policy"]) if "decode_policy" in meta else None,
            evaluated=_unpack_mask(meta["evaluated"], native.n_edges) if "evaluated" in meta else None,
            attach=meta.get("attach", "all"),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{os.fspath(path)} is an agm graph file but not a geodesic graph ({err})") from err


def _pack_mask(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask).tobytes()).decode("ascii")


def _unpack_mask(text: Any, n: int) -> np.ndarray:
    if not isinstance(text, str):
        raise ValueError(f"evaluated must be a base64 string; got {type(text).__name__}")
    bits = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    if bits.size != (n + 7) // 8:
        raise ValueError(f"evaluated holds {bits.size * 8} bits for {n} edges")
    return np.unpackbits(bits)[:n].astype(bool)
