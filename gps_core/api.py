"""The public plugin API: everything a venue plugin (or a risk guard) may import, in one place.

``from gps_core.api import ...`` is the supported way in; the names below keep their meaning
for as long as gps-core accepts the plugin's hook API version (see :data:`HOOKSPEC_VERSION`
and :data:`MIN_HOOKSPEC_VERSION`, documented in ``docs/hooks.md``). Other ``gps_core``
modules are the core's own and may change in any release. The offline test kit a plugin's
tests use lives in :mod:`gps_core.testing` (the conformance suite and a local HTTP server).

- hooks: :data:`hookimpl`, :data:`HOOKSPEC_VERSION`, :data:`MIN_HOOKSPEC_VERSION`
  (from :mod:`gps_core.hookspecs`, where the hooks are specified);
- data the hooks exchange (:mod:`gps_core.model`), instrument names
  (:mod:`gps_core.instruments`) and ``Decimal`` money functions (:mod:`gps_core.money`);
- errors a hook raises (:mod:`gps_core.errors`);
- credentials as :class:`Secret` and redaction (:mod:`gps_core.secrets`);
- HTTP plumbing: a pooled session, "did the request ever leave?" (:func:`never_sent`: a
  failed request that certainly never left is a ``NetworkError``, any other an
  ``OutcomeUnknown``) and the retry rule for calls that are safe to repeat
  (:mod:`gps_core.http`), and timeouts read from the environment (:func:`seconds_from_env`);
- the state directory, :func:`gps_home` (``GPS_HOME`` or the platform's state folder), under
  which a plugin keeps its own files.

One documented exception: the bundled dry-run venue (``gps-venue-dryrun``) is the core's paper
engine (:mod:`gps_core.paper`) and its market helpers (:mod:`gps_core.testing.market`) behind
the venue hooks. That engine is not part of this API: it is still being reshaped, and freezing
it here would promise third parties what the core cannot yet keep; the dry-run venue is released
with gps-core from the same repository and follows it.
"""

from .config import gps_home, seconds_from_env
from .errors import (AuthenticationError, BadInput, ConfigurationError, GpsError, InsufficientFunds, InvalidOrder, InvalidReply, NetworkError,
                     OrderNotFound, OrderNotOpen, OrderRejected, OutcomeUnknown, RateLimited, ReduceOnlyRefused,
                     VenueError, VenueUnavailable)
from .hookspecs import HOOKSPEC_VERSION, MIN_HOOKSPEC_VERSION, hookimpl
from .http import never_sent, new_session, retry_safe
from .instruments import EXPIRY_TIME_UTC, MONTHS, OptionKey, OptionType
from .model import (AuthResult, BookLevel, Capability, ClientIdKind, ComboLeg, ComboOffer, FeeSchedule, LegFill,
                    OrderBook, OrderRequest, OrderSnapshot, Position, Side, TickRule, TimeInForce, VenueInfo,
                    VenueInstrument, VenueOrderStatus)
from .money import ZERO, Money, format_decimal, is_multiple, round_to_step, to_decimal
from .secrets import Secret, redact, redact_known, register_secret_values

__all__ = [
    # hooks
    "hookimpl", "HOOKSPEC_VERSION", "MIN_HOOKSPEC_VERSION",
    # data
    "AuthResult", "BookLevel", "Capability", "ClientIdKind", "ComboLeg", "ComboOffer", "FeeSchedule", "LegFill",
    "OrderBook", "OrderRequest", "OrderSnapshot", "Position", "Side", "TickRule", "TimeInForce", "VenueInfo",
    "VenueInstrument", "VenueOrderStatus",
    "EXPIRY_TIME_UTC", "MONTHS", "OptionKey", "OptionType",
    "ZERO", "Money", "format_decimal", "is_multiple", "round_to_step", "to_decimal",
    # errors
    "GpsError", "BadInput", "ConfigurationError", "VenueError", "AuthenticationError", "OrderRejected", "InsufficientFunds", "InvalidOrder",
    "ReduceOnlyRefused", "OrderNotFound", "OrderNotOpen", "OutcomeUnknown", "InvalidReply", "NetworkError",
    "RateLimited", "VenueUnavailable",
    # credentials and HTTP
    "Secret", "redact", "redact_known", "register_secret_values",
    "never_sent", "new_session", "retry_safe", "seconds_from_env",
    # where gps keeps its state (journals, caches): a plugin's own files go under it
    "gps_home",
]
