"""Money arithmetic in integer minor units: one rounding rule and one way to split.

- **Rounding**: every amount that is not a whole number of minor units is rounded once, per
  line, half to even (banker's rounding): ``round_half_even(n, d)`` is the integer nearest to
  ``n / d``, and a value exactly halfway goes to the even neighbour (0.5 → 0, 1.5 → 2, 2.5 → 2).
  Half-even has no upward bias, so many rounded lines do not drift away from the exact sum.
- **Splitting**: an amount is shared out by the **largest-remainder** method: each part gets
  the whole units of its exact proportional share, and the units left over go one each to the
  parts with the largest fractional remainders (a tie goes to the earlier part). The parts
  always add up to the amount exactly, and no part exceeds its exact share by a unit or more.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["allocate", "round_half_even"]


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves to the even one."""
    if denominator <= 0:
        raise ValueError(f"denominator must be positive, got {denominator}")
    # Python's divmod floors, so the remainder is in [0, denominator) for any numerator sign.
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` in proportion to ``weights`` by largest remainder (ties: earlier).

    The parts add up to ``amount``. Weights must not be negative; when they are all zero only
    an amount of zero can be split (into zeros).
    """
    if amount < 0:
        raise ValueError(f"cannot allocate a negative amount ({amount})")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must not be negative, got {list(weights)}")
    total_weight = sum(weights)
    if total_weight == 0:
        if amount != 0:
            raise ValueError(f"cannot allocate {amount} over weights that are all zero")
        return [0] * len(weights)
    shares = [divmod(amount * weight, total_weight) for weight in weights]
    parts = [whole for whole, _ in shares]
    left_over = amount - sum(parts)
    # Largest remainder first; Python's sort is stable, so equal remainders keep line order.
    by_remainder = sorted(range(len(weights)), key=lambda index: -shares[index][1])
    for index in by_remainder[:left_over]:
        parts[index] += 1
    return parts
