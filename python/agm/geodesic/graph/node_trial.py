"""The decode policy of a graph whose nodes are decoded on demand, chosen on its bulk decodes.

A build that decodes its nodes chooses its decode policy on them (:mod:`agm.geodesic.graph.measured_decode`). A graph
built with ``node_decodes="on_demand"`` decodes none at build time, so it starts with torch's threads and the
device's default batch, unmeasured. Where no policy was given or remembered (and on the CPU), it carries a
:class:`NodeTrial`: the same trial (:class:`agm.geodesic.graph.policy.ResumableTrial`: the climb, the final, the thread
margin) timed call by call on the bulk node decodes the graph makes anyway (the completion of its positions before
``distances``, ``evaluate_all``, an export or a save), in the order they come; what a piece of work holds beyond the
trial's next call, or short of it, is decoded with the best candidate so far. No node is decoded for the measurement
alone, and the decodes of a query's own rounds are not timed: on the trained 8-chart MNIST model (3,240 nodes, all
decoded by its first query) a trial on them cost that query 12-20% of its wall time on an idle machine and 26-45% beside
two busy processes, against the default policy (``benchmarks/README.md``, "Issue 19, the on-demand graph's decode
policy"). When the trial ends its choice becomes the graph's policy (for what follows, later queries, the graph file)
and is remembered for the decoder and machine (:mod:`agm.geodesic.graph.policy_cache`); a graph whose nodes are all
decoded before the trial ends takes the best candidate it measured, if any, not remembered (as a build whose nodes
ran out). Then, as an eager build revises on its edges the policy its nodes chose (a node trial picks smaller batches
than an edge stream wants), ``evaluate_all`` (and so the exact exports) runs the trial again on the edges it decodes
when they are expected to take long enough (:mod:`agm.geodesic.graph.measured_edges`), once per graph; this is also
where the choice falls when the queries decoded every node before the node trial measured anything (past half of
the nodes a query decodes the rest at once).

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from agm.geodesic.graph.curves import checked_decode, decode_points
from agm.geodesic.graph.policy import DecodePolicy, ResumableTrial, TrialResult, applied
from agm.geodesic.graph.policy_cache import remember_policy
from agm.models.protocol import SemiAtlasModel

#: Seconds for the trial's calls (injectable for tests).
CLOCK = time.perf_counter


@dataclass
class NodeTrial:
    """A decode policy trial fed with a graph's node decodes, and where its choice is remembered.

    Attributes:
        key: the decoder's policy key (:func:`agm.geodesic.graph.policy_cache.policy_key`).
        trial: the trial, timed call by call.
    """

    key: dict[str, Any]
    trial: ResumableTrial = field(default_factory=ResumableTrial)

    @property
    def ended(self) -> bool:
        """Whether the trial on the node decodes has ended (its choice is then the graph's policy)."""
        return self.trial.result is not None


def decode_timed(
    node_trial: NodeTrial,
    model: SemiAtlasModel,
    latents: torch.Tensor,
    charts: torch.Tensor,
    device: torch.device,
    fallback: DecodePolicy,
) -> torch.Tensor:
    """The decodings of the rows, the trial's next calls timed on them (call under ``evaluating``, outside any
    thread-holding :func:`agm.geodesic.graph.policy.applied` block: :func:`agm.geodesic.graph.policy.threads_held`).

    Args:
        latents: (N, d) float32 on ``device``; charts: (N,) int64 on ``device``.
        fallback: the policy of the rows no call of the trial takes while it has measured nothing.

    Returns:
        (N, D) float32 on ``device``, row i the decoding of latents i.
    """
    trial, n = node_trial.trial, latents.shape[0]
    parts: list[torch.Tensor] = []
    done = 0
    while trial.request is not None and n - done >= trial.request.batch_size:
        policy = trial.request
        stop = done + policy.batch_size
        with applied(policy):
            started = CLOCK()
            parts.append(checked_decode(model.decode, latents[done:stop], charts[done:stop]))
            seconds = CLOCK() - started
        trial.record(seconds)
        done = stop
    if done < n:
        rest = trial.best() or fallback
        with applied(rest):
            parts.append(decode_points(model.decode, latents[done:], charts[done:], rest.batch_size, device))
    return torch.cat(parts)


def chosen_policy(node_trial: NodeTrial) -> DecodePolicy | None:
    """The trial's choice once it has ended (remembered for its key when it ran to its end), else None."""
    result = node_trial.trial.result
    if result is None:
        return None
    if result.complete:
        remember_policy(node_trial.key, result.policy)
    return result.policy


def chosen_on_edges(node_trial: NodeTrial, result: TrialResult, current: DecodePolicy) -> DecodePolicy:
    """The policy a trial on the graph's bulk edge decodes chose in place of ``node_trial``
    (:func:`agm.geodesic.graph.measured_edges.evaluate_edges_measured`): remembered for its key when it ran to its end;
    ``current`` when it measured nothing."""
    if result.complete:
        remember_policy(node_trial.key, result.policy)
    return result.policy if result.policy.measured > 0.0 else current


def unfinished_policy(node_trial: NodeTrial, current: DecodePolicy) -> DecodePolicy:
    """The policy of a graph whose nodes were all decoded before its trial ended: the best candidate measured (not
    remembered), else ``current``."""
    return node_trial.trial.best() or current
