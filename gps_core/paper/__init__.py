"""Paper trading: a matching engine and order store that moves no money.

One job per module:

* :mod:`~gps_core.paper.broker`: :class:`PaperBroker`, the matching engine (limit orders filled
  against an order book, fees, IOC, post-only, reduce-only);
* :mod:`~gps_core.paper.store`: :class:`~gps_core.paper.store.PaperStore`, the file-locked
  JSON store, the book of record of a venue's paper orders;
* :mod:`~gps_core.paper.orders`: the stored records, :class:`PaperOrder` and :class:`PaperFill`;
* :mod:`~gps_core.paper.faults`: :class:`FaultPlan`, deterministic fault injection;
* :mod:`~gps_core.paper.settlement`: cash settlement at expiry;
* :mod:`~gps_core.paper.clock`: :func:`paper_market_time`, the clock a paper plan is judged by;
* :mod:`~gps_core.paper.combo_fees`: a real venue's combo fill on paper (``--dry-run``): leg
  prices as the venue splits them, each leg's own fees.

The dry-run venue (``gps_venue_dryrun``) and the simulation of ``gps execute --dry-run``
(:mod:`gps_core.simulated`) trade through :class:`PaperBroker`.
"""

from .broker import PaperBroker
from .clock import paper_market_time
from .faults import FAULTS, RATE_LIMIT_RETRY_AFTER, FaultPlan, FaultRule
from .orders import PaperFill, PaperOrder
from .store import STORE_FORMAT, PaperStore

__all__ = ["FAULTS", "RATE_LIMIT_RETRY_AFTER", "STORE_FORMAT", "FaultPlan", "FaultRule", "PaperBroker", "PaperFill",
           "PaperOrder", "PaperStore", "paper_market_time"]
