"""Decode an eager build's edge weights while revising the decode policy on them: the edges are the work that counts.

A build measures its decode policy on its node decodes (:mod:`agm.geodesic.graph.measured_decode`), but an eager
build decodes n_steps - 1 points per intra-chart edge, about 200x as many as its nodes (k = 20, 15 steps), in
packed calls that also gather, interpolate and measure (:class:`agm.geodesic.graph.curves.PackedStream`). A trial on
8,000 node decodes of a small MLP atlas chose batch 256 where batch 64 decoded the edges 1.25x faster, and the
build took 1.35x the decoder limit (issue 19). So when the edges are expected to take at least ``REVISE_MIN_S``
at the node trial's rate, the trial (:func:`agm.geodesic.graph.policy.run_trial`: the same climb, final and
thread margin) is run again on the edge stream itself, with a final of ``FINAL_FRACTION`` of the expected time
(within [``FINAL_S``, ``FINAL_CAP_S``]): every timed call decodes edge points the build needs, the rest of the
stream runs under the winner, watched (:mod:`agm.geodesic.graph.policy_watch`: a check of the other thread count
every few seconds), and the winner becomes the graph's policy (remembered for later builds). The lengths
do not depend on how the stream is cut into calls, up to float32 rounding in the decoder.

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import numpy as np

from agm._progress import progress_bar
from agm.geodesic.graph.curves import PackedStream, interior_decodings
from agm.geodesic.graph.edge_kinds import GraphEdgeKind, ordered_pending
from agm.geodesic.graph.policy import FINAL_S, DecodePolicy, TrialResult, run_trial
from agm.geodesic.graph.policy_watch import decode_rest, stream_step, watch_for
from agm.models.protocol import SemiAtlasModel

#: Expected seconds of edge decoding (at the node trial's rate) from which the policy is revised on the edges.
REVISE_MIN_S = 5.0
#: Share of the expected edge time given to the trial's final (the climb's calls come on top).
FINAL_FRACTION = 0.03
#: The longest final, seconds.
FINAL_CAP_S = 5.0


def expected_seconds(n_edges: int, n_steps: int, policy: DecodePolicy) -> float:
    """Seconds to decode ``n_edges`` intra-chart edges at ``policy.measured`` points per second (0.0 when the policy
    carries no measured rate: nothing to compare with)."""
    if policy.measured <= 0.0:
        return 0.0
    return n_edges * interior_decodings(n_steps) / policy.measured


def worth_revising(expected_s: float) -> bool:
    """Whether edge work expected to take ``expected_s`` seconds is long enough to revise the policy on."""
    return expected_s >= REVISE_MIN_S


def final_seconds(expected_s: float) -> float:
    """The final's length for edge work expected to take ``expected_s`` seconds."""
    return min(FINAL_CAP_S, max(FINAL_S, FINAL_FRACTION * expected_s))


def evaluate_edges_measured(
    model: SemiAtlasModel,
    kind: GraphEdgeKind,
    ids: np.ndarray,
    n_steps: int,
    expected_s: float,
    progress: bool = False,
) -> TrialResult:
    """Decode and store the exact weights of the pending ones of edges ``ids`` (int64) while choosing the decode
    policy on those calls (call under ``evaluating``, outside any :func:`agm.geodesic.graph.policy.applied` block,
    so that the trial's candidates set their threads; one process, not a process group).

    Args:
        kind: the graph's intra-chart edges (their node table on the decoder's device).
        ids: (n,) edge ids; evaluated and cross-chart ones are skipped.
        n_steps: eq. 10's segments per edge, >= 2.
        expected_s: the expected seconds of the whole decode (:func:`expected_seconds`), which sizes the final.
        progress: a tqdm bar over the edges.

    Returns:
        The trial's result: the chosen policy and whether the trial ran to its end before the edges ran out.
    """
    todo = ordered_pending(kind, ids)
    if todo.size == 0:
        return TrialResult(DecodePolicy(), complete=False)
    table, ends = kind.ends(todo, kind.table.latents.device)
    stream = PackedStream(model.decode, table, ends, n_steps)
    with progress_bar(progress, todo.size, "edge weights", "edge") as bar:
        step = stream_step(stream, bar)
        result = run_trial(lambda policy: step(policy.batch_size), final_s=final_seconds(expected_s))
        decode_rest(step, lambda: stream.remaining, result.policy, watch_for(result.policy))
    kind.store(todo, stream.lengths.cpu().numpy())
    return result
