"""The dry-run venue's name and the environment variables it reads (on every call, never cached).

``GPS_DRYRUN_FAULTS``: a fault plan for the paper engine (see :mod:`gps_core.paper.faults`);
``GPS_DRYRUN_COMBOS=off`` (or ``0``, ``no``, ``false``): offer no paper combos, every leg is its
own order; ``GPS_DRYRUN_ASOF=YYYY-MM-DD``: the market's date; ``GPS_DRYRUN_INDEX="BTC=67000"``:
index levels in USD.
"""

VENUE = "dryrun"
FAULTS_ENV = "GPS_DRYRUN_FAULTS"
COMBOS_ENV = "GPS_DRYRUN_COMBOS"
ASOF_ENV = "GPS_DRYRUN_ASOF"
INDEX_ENV = "GPS_DRYRUN_INDEX"

#: the underlyings the offline market lists
UNDERLYINGS = ("BTC", "ETH", "SOL")
