"""gps: route multi-leg crypto option strategies to the best venue and execute them safely.

The public plugin API lives in :mod:`gps_core.hookspecs` (hooks) and :mod:`gps_core.model`
(the data they exchange); errors in :mod:`gps_core.errors`.
"""

__version__ = "0.1.0"
