"""Long inputs read in overlapping windows: which window each token is taken from."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def most_central_window(ranges: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """For each token, ``(window index, position in that window)`` of the window where it has the
    most context on both sides, so stitched vectors come from where the model saw most.

    ``ranges`` are sorted windows as :func:`~albert.tokenization_base.window_ranges` gives them;
    ties go to the earlier one.
    """
    starts = [start for start, _ in ranges]
    ends = [end for _, end in ranges]
    choice: list[tuple[int, int]] = []
    for position in range(length):
        # Only the few windows that contain the position: starts and ends are both sorted.
        first, last = bisect.bisect_right(ends, position), bisect.bisect_right(starts, position)
        best = max(
            range(first, last),
            key=lambda index: (min(position - starts[index], ends[index] - 1 - position), -index),
        )
        choice.append((best, position - starts[best]))
    return choice
