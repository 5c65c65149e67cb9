"""Whether a catalog product event is older than what the read model already holds (pure).

The v2 product events carry ``product_version``, catalog's per-product counter (one more
with every change, in the change's transaction). It is the order of the product's history,
whatever the clocks of the pods that published it: an event at or below the version held
changes nothing; one above it is applied, even if its ``envelope.time`` is older (a pod whose
clock is behind).

The v1 events still in the topic carry no version; they fall back to the old rule: stale
when the copy was set by a newer ``envelope.time``. A copy's version stays None until the
first versioned event for it arrives; that event is applied whatever the times, since
catalog publishes v2 only after everything it published as v1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Held", "is_stale", "newest_time"]


@dataclass(frozen=True, slots=True)
class Held:
    """What the read model holds for a product: its version (None: only v1 seen) and time."""

    version: int | None
    time: datetime


def is_stale(held: Held | None, *, version: int | None, time: datetime) -> bool:
    """True when an event (``version`` None for v1) must not change the copy ``held``."""
    if held is None:
        return False
    if version is not None:
        return held.version is not None and version <= held.version
    return held.time > time


def newest_time(held: Held | None, time: datetime) -> datetime:
    """The copy's time after applying an event of ``time``: never moves backwards, so a
    versioned event from a slow clock does not let an older v1 event through later."""
    return time if held is None or time > held.time else held.time
