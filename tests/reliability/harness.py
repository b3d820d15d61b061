"""One harness per venue: start it, aim a fault at one leg, and read its book of record.

Every harness answers the same questions, so the fault matrix is data: which instruments a
strategy can trade, how a named fault is injected on one leg, and which orders the venue
itself holds (never what gps believes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from gps_core.instruments import OptionKey

#: The faults of the matrix, in the order of the issue.
FAULTS = ("latency", "rate_limit", "server_error", "drop_before", "drop_after", "partial", "reject", "cancel_race")

#: HTTP read timeout given to the plugins in-process, so "latency beyond the timeout" stays short.
READ_TIMEOUT = 0.5
SLOW = 1.5  # seconds an aimed latency fault holds the request, > READ_TIMEOUT


@dataclass(frozen=True)
class VenueOrder:
    """One order as the venue's book of record holds it."""

    client_order_id: str | None  # None: the venue has an order gps's journal cannot name
    venue_key: str
    instrument: str
    side: str
    quantity: Decimal
    filled: Decimal
    status: str  # open, filled, cancelled, rejected, expired

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class VenueHarness:
    """What the reliability tests need of a venue. Subclasses fill it in."""

    name: str
    #: contracts per leg: at least twice the venue's minimum, so half of it can be unwound.
    quantity = Decimal("0.1")
    #: fault -> how it is injected, for docs/reliability.md.
    injections: dict[str, str]

    def __init__(self, home: Path):
        self.home = home

    def env(self) -> dict[str, str]:
        """Settings for a gps process that uses only this venue."""
        return {"GPS_HOME": str(self.home), "GPS_LOAD_PLUGINS": self.name}

    def instruments(self, count: int) -> list[str]:
        """``count`` canonical instrument names of one expiry that fill 0.1 at once."""
        raise NotImplementedError

    def inject(self, fault: str, symbol: str) -> None:
        """Make ``fault`` happen to the order on ``symbol``."""
        raise NotImplementedError

    def orders(self, client_order_ids: Iterable[str]) -> list[VenueOrder]:
        """Every order the venue holds (named by client order id where the journal knows it)."""
        raise NotImplementedError

    def fill(self, client_order_id: str) -> None:
        """Fill a resting order as if someone traded against it."""
        raise NotImplementedError

    def make_hostile(self, symbol: str, mode: str) -> None:
        """Mangle every order reply about ``symbol`` (see ``fakes.HOSTILE_MODES``)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def _expiry_codes(names: Iterable[str], underlying: str = "BTC") -> list[str]:
    codes = {n.split("-")[1] for n in names if n.startswith(f"{underlying}-")}
    return sorted(codes, key=lambda code: OptionKey.parse(f"{underlying}-{code}-1-C").expiry)


def _pick(names: list[str], count: int, strikes: list[str]) -> list[str]:
    """Calls and puts of one expiry around the money, distinct instruments."""
    wanted = [f"{s}-{t}" for s in strikes for t in ("C", "P")]
    chosen = [n for w in wanted for n in names if n.endswith(f"-{w}")]
    if len(chosen) < count:
        raise AssertionError(f"not enough instruments in {names[:5]}...")
    return chosen[:count]


# --- dry run ------------------------------------------------------------------------------


class DryRunHarness(VenueHarness):
    """The ``dryrun`` venue: its paper store file is the book of record, faults are GPS_DRYRUN_FAULTS."""

    name = "dryrun"
    injections = {
        "latency": f"`latency={int(SLOW * 1000)}ms x1` (in-process venue: the reply is late, nothing times out)",
        "rate_limit": "`rate_limit=2` (retry-after 0.05 s)",
        "server_error": "`unknown_after_accept x1` (no HTTP layer: the error after processing)",
        "drop_before": "`unknown_before_accept x1`",
        "drop_after": "`unknown_after_accept x1`",
        "partial": "`partial=0.5 x1`",
        "reject": "`reject x1`",
        "cancel_race": "`never_fill x1; cancel_race x1`",
    }
    _specs = {
        "latency": [f"latency={int(SLOW * 1000)}ms x1"],
        "rate_limit": ["rate_limit=2"],
        "server_error": ["unknown_after_accept x1"],
        "drop_before": ["unknown_before_accept x1"],
        "drop_after": ["unknown_after_accept x1"],
        "partial": ["partial=0.5 x1"],
        "reject": ["reject x1"],
        "cancel_race": ["never_fill x1", "cancel_race x1"],
    }

    def __init__(self, home: Path):
        super().__init__(home)
        self.faults: list[str] = []

    def env(self) -> dict[str, str]:
        env = super().env()
        env["GPS_DRYRUN_COMBOS"] = "off"  # the drills aim faults at single legs: they run legged
        if self.faults:
            env["GPS_DRYRUN_FAULTS"] = "; ".join(self.faults)
        return env

    def add_faults(self, *clauses: str) -> None:
        self.faults.extend(clauses)

    def instruments(self, count: int) -> list[str]:
        from gps_venue_dryrun.market import current_market

        market = current_market({})
        names = [i.symbol for i in market.instruments("BTC")]
        target = date.today() + timedelta(days=30)
        codes = _expiry_codes(names)
        code = min(codes, key=lambda c: abs((OptionKey.parse(f"BTC-{c}-1-C").expiry - target).days))
        same = [n for n in names if f"-{code}-" in n]
        return _pick(same, count, ["95000", "100000", "90000"])

    def inject(self, fault: str, symbol: str) -> None:
        self.add_faults(*(f"{clause}@{symbol}" for clause in self._specs[fault]))

    def broker(self):
        from gps_core.paper import PaperBroker

        return PaperBroker(self.home / "dryrun" / "orders.json", "dryrun")

    def store_exists(self) -> bool:
        return (self.home / "dryrun" / "orders.json").exists()

    def orders(self, client_order_ids: Iterable[str] = ()) -> list[VenueOrder]:
        if not self.store_exists():
            return []
        return [VenueOrder(o.client_order_id, o.venue_order_id, o.symbol, o.side.value, o.quantity,
                           o.filled_quantity, o.status.value) for o in self.broker().orders()]

    def fill(self, client_order_id: str) -> None:
        self.broker().fill(client_order_id)


# --- Deribit ------------------------------------------------------------------------------


class DeribitHarness(VenueHarness):
    """The fake Deribit server (in this process); its ``orders`` map is the book of record."""

    name = "deribit"
    quantity = Decimal("0.2")  # the minimum is 0.1: a half fill must still be tradable
    injections = {
        "latency": f"aimed `latency` {SLOW:g} s before processing; plugin read timeout {READ_TIMEOUT:g} s (DERIBIT_READ_TIMEOUT / AEVO_READ_TIMEOUT)",
        "rate_limit": "aimed `http429` x2 with `Retry-After: 0.05`",
        "server_error": "aimed `http5xx` 502 after processing",
        "drop_before": "aimed `drop_before`",
        "drop_after": "aimed `drop_after`",
        "partial": "aimed `partial` (half the size at once, the rest rests)",
        "reject": "aimed `reject` (10009 not_enough_funds)",
        "cancel_race": "aimed `partial` 0 (rests), then the cancel fills it first (11044 not_open_order)",
    }

    def __init__(self, home: Path, client_id: str = "gps-fake-client", client_secret: str = "gps-fake-secret"):
        from .fakes import AimedDeribit, HostileExchange

        super().__init__(home)
        self.exchange = HostileExchange(client_id=client_id, client_secret=client_secret)
        self.server = AimedDeribit(self.exchange).start()

    def env(self) -> dict[str, str]:
        # The drills aim faults at single legs: they run legged (test_reliability_combo_faults.py runs
        # the same faults against a combo order).
        return {**super().env(), "DERIBIT_BASE_URL": self.server.url, "DERIBIT_CLIENT_ID": self.exchange.client_id,
                "DERIBIT_CLIENT_SECRET": self.exchange.client_secret, "DERIBIT_COMBOS": "off"}

    def instruments(self, count: int) -> list[str]:
        names = self.exchange.instrument_names("BTC")
        code = _expiry_codes(names)[2]
        return _pick([n for n in names if f"-{code}-" in n], count, ["100000", "95000", "105000"])

    def inject(self, fault: str, symbol: str) -> None:
        faults = self.exchange.faults
        if fault == "latency":
            faults.aim(symbol, "latency", seconds=SLOW)
        elif fault == "rate_limit":
            faults.aim(symbol, "http429", times=2, retry_after=0.05)
        elif fault == "server_error":
            faults.aim(symbol, "http5xx", status=502, after=True)
        elif fault in ("drop_before", "drop_after"):
            faults.aim(symbol, fault)
        elif fault == "partial":
            faults.aim(symbol, "partial", fill=str(self.quantity / 2))
        elif fault == "reject":
            faults.aim(symbol, "reject", code=10009, message="not_enough_funds")
        elif fault == "cancel_race":
            faults.aim(symbol, "partial", fill="0")
            self.exchange.racing.add(symbol)
        else:
            raise ValueError(fault)

    def orders(self, client_order_ids: Iterable[str] = ()) -> list[VenueOrder]:
        with self.exchange.lock:
            rows = [dict(o) for o in self.exchange.orders.values()]
        return [VenueOrder(o["label"] or None, o["order_id"], o["instrument_name"], o["direction"], o["amount"],
                           o["filled_amount"], o["order_state"]) for o in rows]

    def fill(self, client_order_id: str) -> None:
        self.exchange.fill(client_order_id)

    def make_hostile(self, symbol: str, mode: str) -> None:
        self.exchange.hostile[symbol] = mode

    def close(self) -> None:
        self.server.stop()


# --- Aevo ---------------------------------------------------------------------------------


class AevoHarness(VenueHarness):
    """The fake Aevo server (in this process); its ``orders`` map is the book of record."""

    name = "aevo"
    injections = {
        "latency": f"aimed `latency` {SLOW:g} s before processing; plugin read timeout {READ_TIMEOUT:g} s (DERIBIT_READ_TIMEOUT / AEVO_READ_TIMEOUT)",
        "rate_limit": "aimed `rate_limit` x2 with `X-RETRY-AFTER` 0.05 s",
        "server_error": "aimed `server_error` 502 (before processing)",
        "drop_before": "aimed `drop_before`",
        "drop_after": "aimed `drop_after`",
        "partial": "aimed `partial_fill` (half the size at once, the rest rests)",
        "reject": "aimed `reject` (INSUFFICIENT_BALANCE)",
        "cancel_race": "aimed `partial_fill` 0 (rests), then the cancel fills it first (ORDER_EXISTS_MATCHED)",
    }

    def __init__(self, home: Path, credentials: dict[str, str] | None = None):
        from .fakes import HostileAevo, serve_aevo

        super().__init__(home)
        self.fake = HostileAevo()
        if credentials is None:
            self.credentials = self.fake.create_account()
        else:
            from eth_account import Account

            self.credentials = dict(credentials)
            wallet = Account.from_key(credentials["AEVO_WALLET_KEY"]).address
            self.credentials.pop("AEVO_WALLET_KEY")
            self.credentials["AEVO_WALLET_ADDRESS"] = wallet
            self.fake.add_account(api_key=credentials["AEVO_API_KEY"], api_secret=credentials["AEVO_API_SECRET"],
                                  wallet=wallet,
                                  signing_key_address=Account.from_key(credentials["AEVO_SIGNING_KEY"]).address)
        self.server = serve_aevo(self.fake)

    def env(self) -> dict[str, str]:
        return {**super().env(), "AEVO_BASE_URL": self.server.url, **self.credentials}

    def instruments(self, count: int) -> list[str]:
        names = self.fake.option_names("BTC")
        codes = _expiry_codes(names)
        code = codes[min(3, len(codes) - 1)]
        return _pick([n for n in names if f"-{code}-" in n], count, ["95000", "100000", "90000"])

    def inject(self, fault: str, symbol: str) -> None:
        fake = self.fake
        if fault == "latency":
            fake.aim(symbol, "latency", seconds=SLOW)
        elif fault == "rate_limit":
            fake.aim(symbol, "rate_limit", times=2, retry_after_ns=50_000_000)
        elif fault == "server_error":
            fake.aim(symbol, "server_error", status=502)
        elif fault in ("drop_before", "drop_after"):
            fake.aim(symbol, fault)
        elif fault == "partial":
            fake.aim(symbol, "partial_fill", fill=str(self.quantity / 2))
        elif fault == "reject":
            fake.aim(symbol, "reject", code="INSUFFICIENT_BALANCE", status=400)
        elif fault == "cancel_race":
            fake.aim(symbol, "partial_fill", fill="0")
            fake.racing.add(fake.market(symbol).instrument_id)
        else:
            raise ValueError(fault)

    def orders(self, client_order_ids: Iterable[str] = ()) -> list[VenueOrder]:
        from gps_venue_aevo.signing import salt_for

        by_salt = {str(salt_for(cid)): cid for cid in client_order_ids}
        status = {"opened": "open", "partial": "open"}
        with self.fake.lock:
            rows = [dict(o) for o in self.fake.orders.values()]
        return [VenueOrder(by_salt.get(o["_salt"]), o["order_id"], o["instrument_name"], o["side"],
                           Decimal(o["amount"]), Decimal(o["filled"]), status.get(o["order_status"], o["order_status"]))
                for o in rows]

    def fill(self, client_order_id: str) -> None:
        from gps_venue_aevo.signing import salt_for

        (order,) = self.fake.orders_for(salt_for(client_order_id))
        self.fake.fill(order["order_id"])

    def make_hostile(self, symbol: str, mode: str) -> None:
        self.fake.hostile[symbol] = mode

    def close(self) -> None:
        self.server.stop()


HARNESSES = {h.name: h for h in (DryRunHarness, DeribitHarness, AevoHarness)}
