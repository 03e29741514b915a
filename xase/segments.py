"""Verifying one chain in segments, one process each, joined at the block boundaries.

A chain splits after any block: the segment that follows starts from the state
that block claims (`ChainState.after_block`), and holds only if the segment
before it ends at exactly that state. When every segment verifies and every
junction holds, the sequential verifier would have seen the same records and
blocks in the same states, so it would pass too. Anything else (a break, a
junction that does not meet, an unreadable boundary) is settled by running the
sequential verifier, so a broken chain is always reported by one code path,
naming the same first broken seq whatever the number of processes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from xase.evidence import GENESIS, ChainState
from xase.wire import is_decimal

__all__ = ["Segment", "default_jobs", "jobs_argument", "joined", "run_segments"]

MAX_DEFAULT_JOBS = 8


@dataclass(frozen=True)
class Segment:
    """What one segment's verifier started from and where it ended."""

    start: ChainState
    end: ChainState


def default_jobs() -> int:
    """One process per core this process may run on, at most MAX_DEFAULT_JOBS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_DEFAULT_JOBS))


def jobs_argument(text: str) -> int:
    """argparse type of a --jobs option: a whole number of processes, at least 1."""
    if not is_decimal(text) or int(text) < 1:  # int() would also take "²" or Arabic-Indic digits
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more), got {text!r}")
    return int(text)


def run_segments(verify_segment: Callable[..., Optional[Segment]], arguments: Sequence[tuple[Any, ...]]) -> list[Optional[Segment]]:
    """`verify_segment(*args)` for each tuple of arguments, each in its own process; None where it failed.

    Forked where the platform forks safely (Linux), so a worker costs no second import of the verifier.
    """
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    with ProcessPoolExecutor(max_workers=len(arguments), mp_context=context) as pool:
        return list(pool.map(verify_segment, *zip(*arguments)))


def joined(segments: Sequence[Optional[Segment]]) -> Optional[ChainState]:
    """The end state of the whole chain if every segment held and each began where the one before ended."""
    expected = GENESIS
    for segment in segments:
        if segment is None or segment.start != expected:
            return None
        expected = segment.end
    return expected
