"""HTTP plumbing shared by venue plugins: sessions, "did the request ever leave?", and the
retry policy for *safe* calls.

``requests`` is imported only when a session is made (or a failure examined), so nothing here
slows down ``gps --help``. Order placement is never retried by this module: :func:`retry_safe`
is for reads (books, instruments, status lookups) and idempotent cancels.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, TypeVar

from .errors import NetworkError, OutcomeUnknown, RateLimited, VenueUnavailable

T = TypeVar("T")
RETRYABLE = (RateLimited, NetworkError, VenueUnavailable, OutcomeUnknown)


def new_session(pool_size: int = 16, url: str | None = None):
    """A ``requests.Session`` with a connection pool big enough for concurrent legs.

    With ``url`` (the one base URL the session talks to), the environment is read once, here,
    instead of on every request: the proxy for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...) and a
    CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``), as requests itself would pick them;
    ``~/.netrc`` is never consulted (its credentials must not replace a venue's own
    ``Authorization``). That takes about a third of requests' own CPU off every order.
    """
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if url is not None:
        import os

        from requests.utils import get_environ_proxies

        session.proxies = dict(get_environ_proxies(url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    return session


def never_sent(exc: BaseException) -> bool:
    """Whether a ``requests`` failure proves the request never left this machine.

    True when no connection was made: a connect timeout, a refused connection, a name that
    did not resolve (``urllib3``'s ``NewConnectionError``), found anywhere in the exception's
    chain (``args``, ``reason``, ``__cause__``, ``__context__``). A venue then raises
    :class:`~gps_core.errors.NetworkError` (nothing was done). Anything else (a read timeout,
    a connection dropped after sending) may have reached the venue: the caller must treat the
    outcome of an order as unknown (:class:`~gps_core.errors.OutcomeUnknown`).
    """
    import requests
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (requests.exceptions.ConnectTimeout, NewConnectionError, ConnectionRefusedError)):
            return True
        if isinstance(item, BaseException):
            pending.extend(a for a in item.args if isinstance(a, BaseException))
            pending.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
    return False


def retry_safe(
    call: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay: float = 0.1,
    max_delay: float = 2.0,
    max_total_wait: float = 10.0,
    retry_on: tuple[type[BaseException], ...] = RETRYABLE,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run a safe (read-only or idempotent) call, retrying retryable errors with backoff.

    Exponential backoff with jitter; a :class:`RateLimited` error's ``retry_after`` is
    honoured. The total time spent waiting never exceeds ``max_total_wait``; when the next
    wait would pass it, the last error is raised.
    """
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except retry_on as exc:
            if attempt == attempts:
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            if waited + delay > max_total_wait:
                raise
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")
