"""The error taxonomy shared by the core and every venue plugin.

Every venue call ends in one of three outcomes (see ``docs/writing-a-venue.md``):

* **accepted** — the hook returned normally;
* **rejected** — the venue said no, definitively: raise :class:`OrderRejected`
  (or a subclass). The order does not exist at the venue;
* **unknown** — anything else: a timeout, a dropped connection after the request
  was sent, a 5xx, a reply that cannot be parsed. Raise :class:`OutcomeUnknown`.

The core treats *any* unexpected exception from ``gps_place`` as unknown, never
as rejected: an order whose fate is not known is looked up by its client order
id before anything else happens, and is never sent again blindly.
"""

from __future__ import annotations


class GpsError(Exception):
    """Base class of every error gps raises on purpose."""


class BadInput(GpsError):
    """The user's input cannot be used (a bad leg spec, file, option value).

    The CLI prints the message on one line and exits with code 2.
    """


class ConfigurationError(GpsError):
    """The installation or configuration is wrong (missing credentials, bad plugin)."""


class RoutingError(GpsError):
    """No executable plan exists for the strategy (nothing lists a leg, book too thin...)."""


class VenuesUnreachable(RoutingError):
    """No venue that could take a leg answered (connection refused, timeout, error reply).

    A failed venue call, not bad input: the CLI exits 1 (nothing was sent).
    """


class VenueError(GpsError):
    """Something a venue said or did.

    :param message: human-readable text; must never contain a secret.
    :param venue: the venue's name, filled in by the core when a plugin leaves it out.
    :param code: the venue's own error code, verbatim, if it has one.
    """

    #: Whether repeating the *same* read-only call may succeed.
    retryable = False

    def __init__(self, message: str, *, venue: str | None = None, code: str | int | None = None):
        super().__init__(message)
        self.message = message
        self.venue = venue
        self.code = code

    def __str__(self) -> str:
        prefix = f"{self.venue}: " if self.venue else ""
        code = f" [{self.code}]" if self.code is not None else ""
        return f"{prefix}{self.message}{code}"


class AuthenticationError(VenueError):
    """Credentials are missing, wrong or expired. Never retried silently."""


class OrderRejected(VenueError):
    """The venue definitively refused an order: it does not exist at the venue."""


class InsufficientFunds(OrderRejected):
    """Rejected for lack of margin or balance."""


class InvalidOrder(OrderRejected):
    """Rejected for its parameters: tick, size, price band, instrument state."""


class ReduceOnlyRefused(InvalidOrder):
    """A reduce-only order was refused because it would not reduce the position on that
    instrument: there is none, it is on the same side, or it is smaller than the order. For an
    unwind this means the leg closed (part of) a position held on the other side before."""


class OrderNotFound(VenueError):
    """The venue does not know an order with this id (or client order id)."""


class OrderNotOpen(VenueError):
    """A cancel reached an order that is no longer working (filled, cancelled, expired).

    The core answers it by asking for the order's status: a filled order is never
    reported as cancelled.
    """


class OutcomeUnknown(VenueError):
    """The request may or may not have taken effect at the venue.

    Raised for timeouts, connections dropped after sending, 5xx replies and
    unparsable replies. For ``gps_place`` the core settles it by looking the order
    up by its client order id; it never resends the order blindly.
    """

    retryable = True


class NetworkError(VenueError):
    """The request certainly never reached the venue (DNS failure, connection refused)."""

    retryable = True


class RateLimited(VenueError):
    """The venue refused the request because of a rate limit; nothing was done.

    :param retry_after: seconds to wait before trying again, if the venue said.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class VenueUnavailable(VenueError):
    """The venue is in maintenance or settlement; nothing was done."""

    retryable = True


class InvalidReply(OutcomeUnknown):
    """A reply that cannot be trusted: missing fields, wrong types, impossible numbers.

    A subclass of :class:`OutcomeUnknown`: the engine never invents a fill from it.
    """

