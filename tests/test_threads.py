"""agm._threads.torch_threads: the one context that sets torch's intra-op thread count around a block.

The oracle for the clamp is the affinity mask itself (``len(os.sched_getaffinity(0))``, patched to a known set
where the test needs one), not :func:`agm._threads.usable_cores`; the count in effect is read back from torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from agm import _threads
from agm._threads import torch_threads


def _cores() -> int:
    return len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    assert not _threads._SCOPES  # no scope left open by a test


def test_sets_the_count_and_restores_the_previous_one() -> None:
    torch.set_num_threads(1)
    want = min(2, _cores())
    with torch_threads(2) as used:
        assert used == want == torch.get_num_threads()
    assert torch.get_num_threads() == 1


def test_restores_the_count_when_the_block_raises() -> None:
    torch.set_num_threads(1)
    with pytest.raises(RuntimeError, match="inside"), torch_threads(2):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 1


def test_none_leaves_the_count_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    with torch_threads(None) as used:
        assert used == 1 == torch.get_num_threads()
    with torch_threads(None, scope="decode") as used:
        assert used == 1
    assert calls == []  # never set, so nothing to restore either


@pytest.mark.parametrize("mask", [{0}, {0, 1}, {0, 2, 5}])
def test_counts_above_the_affinity_mask_are_clamped_to_it(monkeypatch: pytest.MonkeyPatch, mask: set[int]) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: mask)
    seen: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)  # the patched mask may exceed this machine's cores
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1 if not seen else seen[-1])
    for n in (1, 2, 3, 10**6):
        with torch_threads(n) as used:
            assert used == min(n, len(mask)) == torch.get_num_threads()
        assert torch.get_num_threads() == 1


def test_a_million_threads_run_on_this_process_cores() -> None:
    torch.set_num_threads(1)
    with torch_threads(10**6) as used:
        assert used == _cores() == torch.get_num_threads()
    assert torch.get_num_threads() == 1


def test_numpy_ints_are_counts_and_bad_counts_are_refused_naming_the_argument() -> None:
    torch.set_num_threads(1)
    with torch_threads(np.int64(1)) as used:  # type: ignore[arg-type]
        assert used == 1
    with pytest.raises(ValueError, match="threads must be >= 1; got 0"), torch_threads(0):
        pass
    with pytest.raises(ValueError, match="--workers must be >= 1; got -2"), torch_threads(-2, "--workers"):
        pass
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match="threads must be an int"), torch_threads(bad):  # type: ignore[arg-type]
            pass
    with pytest.raises(ValueError), torch_threads(0, scope="decode"):  # a refused entry opens no scope
        pass
    assert torch.get_num_threads() == 1


def test_unscoped_entries_nest_like_a_stack() -> None:
    if _cores() < 2:
        pytest.skip("needs 2 usable cores to tell the counts apart")
    torch.set_num_threads(1)
    with torch_threads(2) as outer:
        assert outer == 2 == torch.get_num_threads()
        with torch_threads(1) as inner:  # the innermost wins
            assert inner == 1 == torch.get_num_threads()
        assert torch.get_num_threads() == 2  # the outer entry's count again
    assert torch.get_num_threads() == 1


def test_entries_of_one_scope_run_with_the_outermost_setting() -> None:
    if _cores() < 2:
        pytest.skip("needs 2 usable cores to tell the counts apart")
    torch.set_num_threads(2)
    with torch_threads(1, scope="decode") as outer:
        assert outer == 1 == torch.get_num_threads()
        with torch_threads(2, scope="decode") as inner:  # counted, not applied
            assert inner == 1 == torch.get_num_threads()
        assert torch.get_num_threads() == 1
        with torch_threads(2, scope="other") as other:  # another scope sets its own count and restores
            assert other == 2 == torch.get_num_threads()
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2  # the count the outermost entry found


def test_a_scope_inside_an_unscoped_stage_sets_its_count_and_gives_the_stages_back() -> None:
    # the experiments' stages run under torch_threads(n); the decode policy's scope inside them still applies
    if _cores() < 2:
        pytest.skip("needs 2 usable cores to tell the counts apart")
    torch.set_num_threads(1)
    with torch_threads(1):
        with torch_threads(2, scope="decode") as used:
            assert used == 2 == torch.get_num_threads()
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 1


def test_concurrent_entries_of_one_scope_share_the_first_setting_and_the_last_exit_restores() -> None:
    torch.set_num_threads(1)
    workers = 4
    inside = threading.Barrier(workers)
    seen: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with torch_threads(n, scope="concurrent") as used:
                inside.wait(timeout=30)  # every worker is inside the scope at once
                seen.append(used)
                inside.wait(timeout=30)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    with torch_threads(1, scope="concurrent") as first:  # the outermost entry, held while the workers enter
        threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2, 3, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert seen == [first] * workers == [1] * workers
    assert torch.get_num_threads() == 1


class _GlobalCount:
    """torch's thread count as one process-global int (torch keeps it per OS thread under OpenMP, so the order of
    entries and exits of concurrent threads is replayed here in one thread, on this fake)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
        self.count = count
        monkeypatch.setattr(torch, "get_num_threads", lambda: self.count)
        monkeypatch.setattr(torch, "set_num_threads", self.set)

    def set(self, n: int) -> None:
        self.count = n


def test_an_outermost_entry_that_exits_first_leaves_the_others_their_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    torch_count = _GlobalCount(monkeypatch, 7)
    first, second = torch_threads(1, scope="decode"), torch_threads(1, scope="decode")
    assert first.__enter__() == 1 and torch_count.count == 1
    assert second.__enter__() == 1  # a concurrent entry (another thread in the real case)
    first.__exit__(None, None, None)
    assert torch_count.count == 1  # the second entry is still inside: nothing restored yet
    second.__exit__(None, None, None)
    assert torch_count.count == 7  # the last exit restores what the first entry found


def test_a_scoped_entry_under_an_unscoped_one_inside_its_scope_sets_the_scope_count_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch_count = _GlobalCount(monkeypatch, 2)
    with torch_threads(1, scope="decode"):
        with torch_threads(2):  # e.g. a stage of the caller's
            assert torch_count.count == 2
            with torch_threads(2, scope="decode") as used:
                assert used == 1 == torch_count.count  # every entry of the scope runs with its setting
            assert torch_count.count == 2  # and gives the stage its count back
        assert torch_count.count == 1
    assert torch_count.count == 2


@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from([None, "a", "b"])), min_size=1, max_size=6))
def test_any_nesting_yields_the_count_in_effect_and_restores_the_first(entries: list[tuple[int, str | None]]) -> None:
    before = torch.get_num_threads()

    def enter(rest: list[tuple[int, str | None]]) -> None:
        if not rest:
            return
        (n, scope), *tail = rest
        with torch_threads(n, scope=scope) as used:
            assert used == torch.get_num_threads() <= _cores()
            enter(tail)
            assert torch.get_num_threads() == used  # an inner exit gives this entry's count back

    enter(entries)
    assert torch.get_num_threads() == before
