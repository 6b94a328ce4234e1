"""Progress of a lazy query call by the convention of :mod:`agm._progress`: the decode estimate up front (every
pending graph and attachment edge decoded: an upper bound, usually far above what LazySP decodes) and a bar over
the pairs made exact, with the edges decoded so far beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from agm._progress import decode_seconds, progress_bar, say, show
from agm.geodesic.graph.curves import interior_decodings
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord


def decode_bound(graph: GraphRecord, pending_attachments: int) -> int:
    """Points decoded at most by a lazy call: every unevaluated intra-chart edge and ``pending_attachments``
    attachment edges, each with the graph's interior decodings."""
    return (graph.edge_weights.intra_pending + pending_attachments) * interior_decodings(graph.n_steps)


@contextmanager
def lazy_progress(
    graph: GraphRecord,
    policy: DecodePolicy,
    pending_attachments: int,
    n_pairs: int,
    desc: str,
    what: str,
    progress: bool | None,
) -> Iterator[Callable[[int, int], None]]:
    """A callback ``advance(pairs done, edges decoded)`` for one lazy call's rounds, shown as a tqdm bar (and the
    estimate printed first) when :func:`agm._progress.show` says so.

    Args:
        graph: the graph the call searches.
        policy: the call's decode policy (its measured rate, or the graph's, gives the estimate).
        pending_attachments: unevaluated attachment edges of the call's query points.
        n_pairs: pairs the call makes exact (the bar's total).
        desc: the bar's name, e.g. "distances".
        what: the message's subject, e.g. "200 x 200 geodesic distances".
        progress: True/False force the bar; None: only long work that someone can see.
    """
    bound = decode_bound(graph, pending_attachments)
    seconds = decode_seconds(bound, (graph.decode_policy or policy).measured)
    shown = show(progress, seconds)
    say(f"agm: {what} on {graph!r}; at most ~{bound:,} decodings (~{seconds:.0f} s), usually a small fraction", shown)
    decoded = [0]
    with progress_bar(shown, n_pairs, desc, "pair") as bar:

        def advance(done: int, n_edges: int) -> None:
            decoded[0] += n_edges
            bar.update(done)
            bar.set_postfix(edges_decoded=decoded[0], refresh=False)

        yield advance
