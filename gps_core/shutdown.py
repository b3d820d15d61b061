"""One orderly stop for whatever ends an execution: SIGINT, SIGTERM and SIGHUP alike.

Inside ``with Shutdown():`` the first of those signals raises :class:`StopRequested` (a
``KeyboardInterrupt`` naming the signal) in the main thread, and the engine answers it the
way it answers Ctrl-C: cancel what is working, settle orders whose outcome is unknown,
apply ``--on-partial``, report, exit non-zero. A second signal exits at once with
``128 + signum`` (130 for SIGINT): every journal line already written is whole, and
``gps recover`` finishes the job.

Code that must not be cut in half (sending an order and taking in the reply, a journal
append, a state change) runs under :func:`shielded`: a signal that arrives then is held
and raised when the section ends. Other threads never see the exception; they read
:func:`stop_requested` at their own safe points. Previous handlers are restored on exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

#: The signals that mean "stop": Ctrl-C, ``kill``/docker/systemd, a closed terminal or SSH drop.
STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


def exit_code_for(signum: int) -> int:
    """The shell's convention for a process ended by ``signum``: 128 + its number (SIGINT 130)."""
    return 128 + int(signum)


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived. ``signal_name`` is ``SIGTERM``, ``SIGINT`` or ``SIGHUP``."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.signal_name = signal.Signals(signum).name
        self.exit_code = exit_code_for(signum)
        super().__init__(self.signal_name)

    def __str__(self) -> str:
        return f"{self.signal_name} received"


class Shutdown:
    """Context manager: turn stop signals into :class:`StopRequested`, a second one into an exit.

    Usable only from the main thread (where Python runs signal handlers); elsewhere it does
    nothing. ``on_force_exit`` is written to stderr (best-effort) before a second signal exits.
    """

    def __init__(self, on_force_exit: str = "gps: aborted at once; run `gps recover` to settle what was left"):
        self.message = on_force_exit
        self.signum: int | None = None  # the first stop signal, once one arrived
        self._raised = False
        self._depth = 0
        self._previous: dict[int, object] = {}
        self._installed = False

    # --- installing --------------------------------------------------------------------

    def __enter__(self) -> "Shutdown":
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self._installed = True
            _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        if self._installed:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._installed = False
            if _active is self:
                _active = None

    # --- the handler -------------------------------------------------------------------

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            self._exit_now(signum)
        self.signum = signum
        if self._depth == 0:
            self._raise()

    def _raise(self) -> None:
        self._raised = True
        raise StopRequested(self.signum)

    def _exit_now(self, signum: int) -> None:
        try:
            sys.stderr.write(f"{self.message} ({signal.Signals(signum).name} again)\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a closed stderr must not keep the process alive
            pass
        os._exit(exit_code_for(signum))

    # --- for the engine ----------------------------------------------------------------

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @contextmanager
    def shield(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        # Raised only when the section ended normally; an exception already on its way wins.
        if self._depth == 0 and self.signum is not None and not self._raised:
            self._raise()


_active: Shutdown | None = None


def pending_stop() -> int | None:
    """The stop signal that arrived under the innermost active :class:`Shutdown`, or ``None``.

    For code that had to swallow the :class:`StopRequested` (a prompt library turns it into
    its own abort) and must still stop for it.
    """
    return None if _active is None else _active.signum


def stop_requested() -> bool:
    """Whether a stop signal arrived (any thread may ask)."""
    return _active is not None and _active.requested


@contextmanager
def shielded() -> Iterator[None]:
    """Hold a stop signal until the block ends (main thread; a no-op elsewhere or without :class:`Shutdown`)."""
    active = _active
    if active is None:
        yield
        return
    with active.shield():
        yield
