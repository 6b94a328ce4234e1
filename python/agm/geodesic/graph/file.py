"""The file format of a geodesic graph: the native graph file with the build parameters as JSON metadata.

Besides the build parameters the metadata holds the decode policy (``decode_policy``: threads, batch size) and,
for a graph with lazy weights, which edges are evaluated (``evaluated``: the (n_edges,) mask as base64 of
``np.packbits``; absent when every edge is). Files without them (written before) load as eager graphs without a
policy. ``attach`` (the query attachment rule) defaults to "all" when absent. ``watch_policy: false`` marks a
policy given to the build, which is not watched (:mod:`agm.geodesic.graph.policy_watch`); absent, the policy is the
graph's own and is watched.
"""

from __future__ import annotations

import base64
import json
import math
import os
from typing import Any

import numpy as np

from agm._core import AtlasGraph
from agm.geodesic._support.checks import check_int_in
from agm.geodesic.graph.fingerprint import PROBES_PER_CHART, PROJECTIONS
from agm.geodesic.graph.modes import MODES, DecoderNodes
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord

FORMAT = "agm.geodesic.graph/1"


def save_graph(graph: GraphRecord, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` (all native arrays, decoded positions and build parameters) to one file.

    Raises:
        ValueError: some nodes of a graph built with ``node_decodes="on_demand"`` are not decoded yet
            (:meth:`agm.geodesic.GeodesicGraph.save` decodes them first).
    """
    if graph.pending_nodes is not None:
        n = int((~graph.pending_nodes.decoded).sum())
        raise ValueError(
            f"graph has {n} nodes not decoded yet (node_decodes='on_demand'); decode them first "
            "(GeodesicGraph.save does: agm.geodesic.graph.node_positions.complete_positions)"
        )
    meta = {
        "format": FORMAT,
        "charts": list(graph.charts),
        "eps": graph.eps,
        "k": graph.k,
        "n_steps": graph.n_steps,
        "data_shape": list(graph.data_shape),
        "fingerprint": graph.fingerprint,
        "nodes": graph.nodes,
        "refine_steps": graph.search_steps,  # the key of the file format (version 1)
        "attach": graph.attach,
    }
    if graph.decode_policy is not None:
        meta["decode_policy"] = graph.decode_policy.to_json()
    if not graph.watch_policy:  # a policy given to the build stays unwatched after a reload
        meta["watch_policy"] = False
    weights = graph.edge_weights
    if not weights.complete:
        meta["evaluated"] = _pack_mask(weights.evaluated)
    graph.native.save(os.fspath(path), json.dumps(meta))


def read_graph(path: str | os.PathLike[str]) -> GraphRecord:
    """Read a graph written by :func:`save_graph`; ValueError for a file that is not one (every metadata field is
    checked, naming it, before anything is made from it: see :func:`check_metadata`)."""
    native = AtlasGraph.load(os.fspath(path))
    try:
        meta = check_metadata(json.loads(native.metadata), native)
        record = GraphRecord(
            native,
            charts=tuple(meta["charts"]),
            eps=meta["eps"],
            k=meta["k"],
            n_steps=meta["n_steps"],
            data_shape=tuple(meta["data_shape"]),
            fingerprint=meta["fingerprint"],
            nodes=DecoderNodes(search_steps=meta["refine_steps"]) if meta["nodes"] == "decoder" else meta["nodes"],
            decode_policy=DecodePolicy.from_json(meta["decode_policy"]) if "decode_policy" in meta else None,
            evaluated=_unpack_mask(meta["evaluated"], native.n_edges) if "evaluated" in meta else None,
            attach=meta.get("attach", "all"),
        )
        record.watch_policy = meta.get("watch_policy", True)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{os.fspath(path)} is an agm graph file but not a geodesic graph ({err})") from err
    # As build_record does: A*'s one O(E D) consistency pass now, rows in parallel, not on the first query. Run,
    # not read from the file: a stored verdict would be a claim about the weights that a crafted file could make
    # falsely (A* would then return non-shortest paths), and checking the claim is this same pass.
    native.check_heuristic()
    return record


def _pack_mask(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask).tobytes()).decode("ascii")


def _unpack_mask(text: Any, n: int) -> np.ndarray:
    if not isinstance(text, str):
        raise ValueError(f"evaluated must be a base64 string; got {type(text).__name__}")
    bits = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    if bits.size != (n + 7) // 8:
        raise ValueError(f"evaluated holds {bits.size * 8} bits for {n} edges")
    return np.unpackbits(bits)[:n].astype(bool)


#: Upper bounds of counts a graph file states (far above any real build; a crafted file cannot make a query
#: allocate or loop by them): segments per edge, latent-search iterations, dimensions of a data point, its size.
MAX_FILE_STEPS = 1 << 16
MAX_FILE_DIMS = 8
MAX_FILE_POINT_SIZE = 1 << 28


def check_metadata(meta: Any, native: AtlasGraph) -> dict[str, Any]:
    """The metadata of a graph file, checked field by field against its graph (the file is untrusted input).

    Raises:
        ValueError: naming the first missing or bad field (format, charts, eps, k, n_steps, data_shape,
            fingerprint, nodes, refine_steps, watch_policy; the decode policy and the evaluated mask are checked where
            read).
    """
    if not isinstance(meta, dict):
        raise ValueError(f"the metadata must be a JSON object; got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}")
    for key in ("charts", "eps", "k", "n_steps", "data_shape", "fingerprint", "nodes", "refine_steps"):
        if key not in meta:
            raise ValueError(f"{key} is missing")
    fingerprint = _check_fingerprint(meta["fingerprint"], native)
    charts = meta["charts"]
    if not isinstance(charts, list) or len(charts) != native.n_charts:
        raise ValueError(f"charts must be a list of {native.n_charts} chart ids; got {charts!r:.80}")
    for c in charts:
        check_int_in("charts[i]", c, 0, fingerprint["n_charts"] - 1)
    if len(set(charts)) != len(charts):
        raise ValueError(f"charts must be distinct; got {charts!r:.80}")
    eps = meta["eps"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be a number in [0, 1); got {eps!r}")
    if check_int_in("k", meta["k"], 1, native.n_nodes) != native.k:
        raise ValueError(f"k is {meta['k']} but the graph's is {native.k}")
    check_int_in("n_steps", meta["n_steps"], 1, MAX_FILE_STEPS)
    check_int_in("refine_steps", meta["refine_steps"], 0, MAX_FILE_STEPS)
    if _check_shape("data_shape", meta["data_shape"]) != fingerprint["data_shape"]:
        raise ValueError(f"data_shape {meta['data_shape']} differs from the fingerprint's {fingerprint['data_shape']}")
    if meta["nodes"] not in MODES:
        raise ValueError(f"nodes must be one of {sorted(MODES)}; got {meta['nodes']!r:.80}")
    if not isinstance(meta.get("watch_policy", True), bool):
        raise ValueError(f"watch_policy must be true or false; got {meta['watch_policy']!r:.80}")
    return meta


def _check_shape(name: str, shape: Any) -> list[int]:
    """A data point's shape: 1 to MAX_FILE_DIMS ints >= 1 whose product is at most MAX_FILE_POINT_SIZE."""
    if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_FILE_DIMS:
        raise ValueError(f"{name} must be a list of 1 to {MAX_FILE_DIMS} ints; got {shape!r:.80}")
    size = 1
    for s in shape:
        size *= check_int_in(f"{name}[i]", s, 1, MAX_FILE_POINT_SIZE)
    if size > MAX_FILE_POINT_SIZE:
        raise ValueError(f"{name} {shape} holds more than {MAX_FILE_POINT_SIZE} entries")
    return [int(s) for s in shape]


def _check_fingerprint(fingerprint: Any, native: AtlasGraph) -> dict[str, Any]:
    """The fingerprint's fields (see :func:`agm.geodesic.graph.fingerprint.model_fingerprint`) and their types."""
    if not isinstance(fingerprint, dict):
        raise ValueError(f"fingerprint must be an object; got {type(fingerprint).__name__}")
    for key in ("class", "n_charts", "latent_dim", "data_shape", "probe"):
        if key not in fingerprint:
            raise ValueError(f"fingerprint.{key} is missing")
    if not isinstance(fingerprint["class"], str):
        raise ValueError(f"fingerprint.class must be a string; got {fingerprint['class']!r:.80}")
    check_int_in("fingerprint.n_charts", fingerprint["n_charts"], 1, 1 << 31)
    if check_int_in("fingerprint.latent_dim", fingerprint["latent_dim"], 1, 1 << 31) != native.latent_dim:
        raise ValueError(f"fingerprint.latent_dim is {fingerprint['latent_dim']}; the graph's is {native.latent_dim}")
    _check_shape("fingerprint.data_shape", fingerprint["data_shape"])
    probe = fingerprint["probe"]
    if not isinstance(probe, list) or not all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in probe
    ):
        raise ValueError("fingerprint.probe must be a list of finite numbers")
    per_part = fingerprint["n_charts"] * PROBES_PER_CHART * PROJECTIONS  # so n_charts is bounded by the file's size
    if len(probe) not in (2 * per_part, 3 * per_part):
        raise ValueError(
            f"fingerprint.probe holds {len(probe)} numbers; {fingerprint['n_charts']} charts make {2 * per_part} "
            f"or {3 * per_part}"
        )
    return fingerprint
