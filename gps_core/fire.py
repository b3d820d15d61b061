"""The fire phase: every order prepared (and signed) before the first leaves, then sent back-to-back.

A venue that implements the optional ``gps_prepare_place`` hook turns an order into a
:class:`PreparedSend`: validation, JSON, signature and the HTTP request bytes are done, on a
keep-alive connection checked to be open. :func:`fire_all` then writes every prepared
request in a tight loop (no per-request library work between the writes); the engine reads
the replies concurrently, each through :meth:`PreparedSend.reply`, and settles each outcome
exactly as it settles ``gps_place``'s (accepted, refused, not placed, unknown).

What keeps holding (see ``docs/reliability.md``):

* the intents are journaled (one fsync) before :func:`prepare_all` is called;
* a write that fails before any byte was accepted by the kernel raises
  :class:`~gps_core.errors.NetworkError` (nothing left); the engine looks the order up by
  client order id and only then tries again, on today's path. Any other failure (a write cut
  half-way, a reply lost after the write, a connection reset or closed after it) is an
  unknown outcome, looked up by label, never re-sent;
* a prepared send that is not fired is abandoned (its connection closed, nothing written);
* the ``before_send`` crash point is passed before each write, ``after_send`` after each reply.

Venues without the hook, and venues whose ``gps_place`` is wrapped by another plugin (a risk
guard must see every order), keep the ``gps_place`` path.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Protocol

from .errors import GpsError, NetworkError, OutcomeUnknown, VenueError
from .model import OrderSnapshot

log = logging.getLogger(__name__)


class PreparedSend(Protocol):
    """One order made ready to leave (returned by ``gps_prepare_place``).

    ``fire()`` writes the request; it raises :class:`~gps_core.errors.NetworkError` only when
    provably nothing left, anything else when the outcome is unknown. ``reply()`` reads and
    parses the venue's answer and returns or raises exactly as ``gps_place`` does.
    ``abandon()`` releases a prepared send that was never fired (nothing is written).
    """

    def fire(self) -> None: ...
    def reply(self) -> OrderSnapshot: ...
    def abandon(self) -> None: ...


class Fired:
    """A prepared order after :func:`fire_all`: its send, or the error its write raised."""

    __slots__ = ("send", "error")

    def __init__(self, send: PreparedSend, error: BaseException | None = None):
        self.send = send
        self.error = error

    def outcome(self, venue: str) -> OrderSnapshot:
        """The venue's answer (as ``gps_place`` gives it); unexpected errors mean an unknown outcome."""
        try:
            if self.error is not None:
                raise self.error
            return self.send.reply()
        except VenueError as exc:
            exc.venue = exc.venue or venue
            raise
        except GpsError:
            raise
        except Exception as exc:  # noqa: BLE001 - the order left: never "rejected"
            raise OutcomeUnknown(f"unexpected {type(exc).__name__} reading the reply: {exc}", venue=venue) from exc


def prepare_all(items: Iterable[tuple[str, object, Callable[[object], PreparedSend | None]]]) -> dict[str, PreparedSend]:
    """Prepare each ``(client_order_id, request, prepare)``; ids whose venue declined are left out.

    A failed preparation is logged and the order keeps the ``gps_place`` path (nothing left).
    """
    prepared: dict[str, PreparedSend] = {}
    for client_order_id, request, prepare in items:
        try:
            send = prepare(request)
        except Exception as exc:  # noqa: BLE001 - not prepared: the order goes the usual way
            log.debug("%s not prepared (%s): sent the usual way", client_order_id, exc)
            continue
        if send is not None:
            prepared[client_order_id] = send
    return prepared


def fire_all(prepared: dict[str, PreparedSend], before_each: Callable[[str], None]) -> dict[str, Fired]:
    """Write every prepared request back-to-back; ``before_each(client_order_id)`` runs before each write.

    Returns every order's :class:`Fired`. A write's exception is kept for the engine (see
    :meth:`Fired.outcome`); it never stops the other writes.
    """
    fired: dict[str, Fired] = {}
    for client_order_id, send in prepared.items():
        before_each(client_order_id)
        try:
            send.fire()
            fired[client_order_id] = Fired(send)
        except NetworkError as exc:
            fired[client_order_id] = Fired(send, exc)
        except BaseException as exc:  # noqa: BLE001 - may have left: an unknown outcome
            if not isinstance(exc, Exception):
                for rest in prepared.values():  # a stop: what was not fired is abandoned
                    if not any(rest is f.send for f in fired.values()) and rest is not send:
                        _abandon(rest)
                raise
            fired[client_order_id] = Fired(send, exc if isinstance(exc, GpsError) else OutcomeUnknown(
                f"unexpected {type(exc).__name__} while sending: {exc}"))
    return fired


def _abandon(send: PreparedSend) -> None:
    try:
        send.abandon()
    except Exception:  # noqa: BLE001 - best effort: nothing was written
        pass
