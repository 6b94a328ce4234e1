"""Decode a build's nodes while choosing the decode policy on them: the measurement is useful work.

:func:`agm.geodesic.graph.policy.measure_policy` times probe batches and throws their decodings away: for the paper's
decoder that was 776-808 decodes and 26% of a first geodesic's time, for a cheap MLP about 200k decodes of an
eager build. Here the trial (:func:`agm.geodesic.graph.policy.run_trial`: the same climb, final and thread margin)
times calls that decode the graph's nodes themselves, in node order (chart after chart), and the nodes left when
it ends are decoded with the chosen policy. So choosing costs no decode beyond the nodes; what it costs is that
some node batches run with candidates that lose.
"""

from __future__ import annotations

import torch

from agm.geodesic.graph.curves import checked_decode, decode_points
from agm.geodesic.graph.policy import DecodePolicy, TrialResult, applied, run_trial
from agm.models.protocol import SemiAtlasModel


def decode_nodes_measured(
    model: SemiAtlasModel, latents: torch.Tensor, charts: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, TrialResult]:
    """The decodings of the nodes, and the decode policy chosen by timing calls that decode them (call under
    ``evaluating``, outside any :func:`agm.geodesic.graph.policy.applied` block, so that candidates set their threads).

    Args:
        latents: (N, d) float32 node latents on ``device``; charts: (N,) int64 on ``device``.

    Returns:
        (N, D) float32 decodings on ``device`` (row i of latents i), and the trial's result (``complete`` False
        when the nodes ran out before the trial ended: the policy is then the best seen).
    """
    n = latents.shape[0]
    parts: list[torch.Tensor] = []
    done = 0

    def next_nodes(policy: DecodePolicy) -> int:
        nonlocal done
        stop = min(n, done + policy.batch_size)
        if stop > done:
            parts.append(checked_decode(model.decode, latents[done:stop], charts[done:stop]))
        taken = stop - done
        done = stop
        return taken

    result = run_trial(next_nodes)
    if done < n:
        with applied(result.policy):
            parts.append(decode_points(model.decode, latents[done:], charts[done:], result.policy.batch_size, device))
    if not parts:
        return torch.empty(0, 0, device=device), result
    return torch.cat(parts), result
