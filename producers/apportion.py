"""Exact apportionment: cut an integer total into parts that follow weights and add up to it.

Every amount the generator emits is cut with ``split_exact``, which is why the
events of a stream sum to its manifest to the unit.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

__all__ = ["split_exact"]


def split_exact(total: int, weights: Sequence[int | float]) -> list[int]:
    """Cut ``total`` into non-negative ints proportional to ``weights`` that sum to exactly ``total``.

    Largest-remainder apportionment on the exact values of the weights (floats are
    converted without rounding), so each part is the floor or the ceiling of its
    exact quota and never more than one unit from it. Ties go to the earlier index.
    """
    if total < 0:
        raise ValueError(f"total={total}: cannot split a negative amount")
    exact = _exact_weights(weights)
    weight_sum = sum(exact)
    if weight_sum == 0:
        if total == 0:
            return [0] * len(exact)
        raise ValueError(f"total={total} but the {len(exact)} weights sum to zero; give at least one positive weight")
    quotas = [divmod(total * w, weight_sum) for w in exact]
    parts = [q for q, _ in quotas]
    left = total - sum(parts)
    if left:
        for i in heapq.nlargest(left, range(len(parts)), key=lambda i: quotas[i][1]):
            parts[i] += 1
    return parts


def _exact_weights(weights: Sequence[int | float]) -> list[int]:
    try:
        ratios = [w.as_integer_ratio() for w in weights]
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"weights must be finite numbers: {exc}") from exc
    # Float denominators are powers of two (ints have 1), so the largest is a common multiple.
    common = max((d for _, d in ratios), default=1)
    ints = [n * (common // d) for n, d in ratios]
    for w, i in zip(weights, ints, strict=True):
        if i < 0:
            raise ValueError(f"weight {w!r} is negative; weights must be >= 0")
    return ints
