"""The fault matrix as data: which fault, on which leg, and what gps must report."""

from __future__ import annotations

from dataclasses import dataclass

from .harness import FAULTS

LEGS = 3
POSITIONS = {"first": 0, "middle": 1, "last": 2}
SIDES = ("buy", "sell", "buy")

#: Faults after which the strategy still completes: the order is found by its client order id,
#: retried only after the venue refused it, or filled before the cancel arrived.
COMPLETES = {"latency", "rate_limit", "server_error", "drop_after", "cancel_race"}
#: Per-venue exceptions: Aevo's fake answers 5xx before processing, so the order never exists.
NEVER_PLACED = {("aevo", "server_error")}


@dataclass(frozen=True)
class Scenario:
    venue: str
    fault: str
    position: str
    on_partial: str = "unwind"

    @property
    def leg(self) -> int:
        return POSITIONS[self.position]

    @property
    def completes(self) -> bool:
        return self.fault in COMPLETES and (self.venue, self.fault) not in NEVER_PLACED

    @property
    def id(self) -> str:
        suffix = "" if self.on_partial == "unwind" else f"-{self.on_partial}"
        return f"{self.venue}-{self.fault}-{self.position}{suffix}"


def matrix(venues: tuple[str, ...] = ("dryrun", "deribit", "aevo")) -> list[Scenario]:
    """Every fault on the first, middle and last leg of each venue, plus ``keep`` for the failing faults."""
    scenarios = [Scenario(v, f, p) for v in venues for f in FAULTS for p in POSITIONS]
    scenarios += [Scenario(v, f, "middle", "keep") for v in venues for f in ("partial", "reject")]
    return scenarios
