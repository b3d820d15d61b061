"""The state behind the fake Deribit server: accounts, tokens, books, orders, matching, faults.

Tests drive it from Python (``server.state``): arm faults with :meth:`Faults.inject`, fill a
resting order with :meth:`FakeExchange.fill`, expire tokens, and read the book of record
(:meth:`FakeExchange.order_count`) to prove an order was never placed twice.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets as _random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_FLOOR, Decimal

from .fake_chain import UNDERLYINGS, FakeInstrument, build_chain, row_tick_at
from .fake_combos import ComboBooks

FEE_CAP = Decimal("0.125")
SIGNATURE_WINDOW_MS = 60_000


class RpcError(Exception):
    """A JSON-RPC error reply: ``code``, ``message``, optional ``data`` and HTTP status."""

    def __init__(self, code: int, message: str, data=None, http_status: int = 400):
        super().__init__(message)
        self.code, self.message, self.data, self.http_status = code, message, data, http_status


@dataclass
class Fault:
    """One armed fault: ``kind`` for requests to ``method`` (``None``: any), ``times`` more times."""

    kind: str
    methods: frozenset[str] | None
    times: int
    options: dict


class Faults:
    """Faults to inject, armed from Python. Thread-safe.

    Kinds: ``latency`` (``seconds``), ``http429`` (plain 429, ``retry_after``), ``rate_limit``
    (JSON-RPC 10028), ``http5xx`` (``status``, ``after``: process first), ``drop_before``
    (close without processing), ``drop_after`` (process, then close: the reply is lost),
    ``reject`` (``code``, ``message``), ``partial`` (``fill``: most filled at once, or
    ``fraction`` of the order, rounded down to the size step),
    ``expire_token`` (tokens expire before the call), ``garbage`` (process, reply is not JSON).
    """

    KINDS = {"latency", "http429", "rate_limit", "http5xx", "drop_before", "drop_after", "reject", "partial",
             "expire_token", "garbage"}

    def __init__(self):
        self.latency = 0.0  # seconds before every reply
        self._armed: list[Fault] = []
        self._lock = threading.Lock()

    def inject(self, kind: str, method: str | tuple[str, ...] | None = "private/buy", times: int = 1,
               **options) -> None:
        """Arm ``kind`` for the next ``times`` requests to ``method`` (one name, several, or ``None``: any)."""
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(self.KINDS)}")
        methods = None if method is None else frozenset([method] if isinstance(method, str) else method)
        with self._lock:
            self._armed.append(Fault(kind, methods, times, options))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.latency = 0.0

    def take(self, method: str) -> list[Fault]:
        """The faults that fire for this request (each used once per request)."""
        fired = []
        with self._lock:
            for fault in list(self._armed):
                if (fault.methods is None or method in fault.methods) and fault.kind not in {f.kind for f in fired}:
                    fired.append(fault)
                    fault.times -= 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
        return fired


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class FakeExchange(ComboBooks):
    """One fake Deribit account with its market, and its combo books (:mod:`.fake_combos`).
    Every public method is thread-safe."""

    client_id: str = "gps-fake-client"
    client_secret: str = "gps-fake-secret"
    token_lifetime: int = 900  # expires_in of new tokens, seconds
    clock_skew_ms: int = 0  # the venue's clock runs this far ahead of the machine's
    today: date = field(default_factory=lambda: datetime.now(timezone.utc).date())
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self):
        self.lock = threading.RLock()
        self.instruments: dict[str, FakeInstrument] = {}
        for number, root in enumerate(UNDERLYINGS):
            self.instruments.update(build_chain(root, self.today, first_id=480000 + 100000 * number))
        #: index name (``btc_usd``, ``sol_usdc``) -> price
        self.index = {spec.index_name: spec.index for spec in UNDERLYINGS.values()}
        self.orders: dict[str, dict] = {}
        self.trades: dict[str, list[dict]] = {}
        self.received: Counter = Counter()  # buy/sell requests that reached the server, per label
        self.placed: Counter = Counter()  # orders created, per label (the book of record)
        self.calls: Counter = Counter()  # requests per method
        self.grants: Counter = Counter()  # public/auth per grant_type
        self.signatures: Counter = Counter()  # signed requests: accepted / refused
        self._tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self._refresh: set[str] = set()
        self._nonces: set[tuple[int, str]] = set()
        self._ids = itertools.count(66581975120)
        self._trade_ids = itertools.count(1)
        self._combo_state()

    # --- Python API for tests ----------------------------------------------------------

    def now_ms(self) -> int:
        """The venue's clock (ms), ``clock_skew_ms`` ahead of this machine's."""
        return _now_ms() + self.clock_skew_ms

    def instrument_names(self, currency: str = "BTC") -> list[str]:
        return [n for n in self.instruments if n.startswith(f"{currency}-")]

    def order_count(self, label: str) -> int:
        """How many orders carry ``label`` (the book of record)."""
        with self.lock:
            return self.placed[label]

    def orders_for(self, label: str) -> list[dict]:
        with self.lock:
            return [dict(o) for o in self.orders.values() if o["label"] == label]

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (the next private call gets 13009)."""
        with self.lock:
            self._tokens = {t: 0.0 for t in self._tokens}

    def revoke_refresh_tokens(self) -> None:
        """Forget every refresh token issued (the next refresh is refused with 13009)."""
        with self.lock:
            self._refresh.clear()

    def fill(self, order_id_or_label: str, amount: Decimal | None = None, price: Decimal | None = None) -> dict:
        """Fill a resting order (fully, or ``amount`` more) as if someone traded against it."""
        with self.lock:
            order = self.orders.get(order_id_or_label) or next(
                (o for o in self.orders.values() if o["label"] == order_id_or_label and o["order_state"] == "open"), None)
            if order is None or order["order_state"] != "open":
                raise KeyError(f"no open order {order_id_or_label!r}")
            left = order["amount"] - order["filled_amount"]
            if order["instrument_name"] in self.combos:
                self.combo_trade(order, min(left, amount or left), price or order["price"], "M")
            else:
                self._trade(order, min(left, amount or left), price or order["price"], "M")
            self._settle(order)
            return dict(order)

    # --- auth --------------------------------------------------------------------------

    def authorize(self, token: str | None) -> None:
        with self.lock:
            if not token:
                raise RpcError(10000, "authorization_required", http_status=401)
            expires = self._tokens.get(token)
            if expires is None or time.monotonic() >= expires:
                raise RpcError(13009, "unauthorized", {"reason": "invalid or expired token", "param": "access_token"},
                               http_status=401)

    def verify_request(self, credentials: str, http_method: str, uri: str, body: bytes) -> None:
        """Check a ``deri-hmac-sha256`` header the way Deribit does: ``credentials`` is
        ``id=..,ts=..,sig=..,nonce=..``; the signature is HMAC-SHA256(client secret,
        ``ts\\nnonce\\nMETHOD\\nURI\\nbody\\n``) over the URI and body bytes as received; the
        timestamp must be within 60 s of the venue's clock and the nonce unused. 13009 otherwise."""
        fields = dict(part.strip().partition("=")[::2] for part in credentials.split(","))
        refused = RpcError(13009, "unauthorized", {"reason": "invalid signature"}, http_status=401)
        try:
            timestamp = int(fields.get("ts", ""))
        except ValueError:
            raise refused from None
        nonce = fields.get("nonce", "")
        message = f"{timestamp}\n{nonce}\n{http_method.upper()}\n{uri}\n".encode() + body + b"\n"
        expected = hmac.new(self.client_secret.encode(), message, hashlib.sha256).hexdigest()
        with self.lock:
            if fields.get("id") != self.client_id or not nonce or not hmac.compare_digest(fields.get("sig", ""), expected):
                self.signatures["refused"] += 1
                raise refused
            if abs(self.now_ms() - timestamp) > SIGNATURE_WINDOW_MS or (timestamp, nonce) in self._nonces:
                self.signatures["refused"] += 1
                raise RpcError(13009, "unauthorized", {"reason": "stale timestamp or reused nonce"}, http_status=401)
            self._nonces.add((timestamp, nonce))
            self.signatures["accepted"] += 1

    def auth(self, params: dict) -> dict:
        grant = params.get("grant_type")
        with self.lock:
            self.grants[grant] += 1
            if grant == "client_signature":
                self._check_signature(params)
            elif grant == "client_credentials":
                if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
                    raise RpcError(13004, "invalid_credentials", http_status=401)
            elif grant == "refresh_token":
                if params.get("refresh_token") not in self._refresh:
                    raise RpcError(13009, "unauthorized", {"reason": "invalid refresh token"}, http_status=401)
                self._refresh.discard(params["refresh_token"])
            else:
                raise RpcError(-32602, "Invalid params", {"reason": "unknown grant_type", "param": "grant_type"})
            access, refresh = _random.token_urlsafe(24), _random.token_urlsafe(24)
            self._tokens[access] = time.monotonic() + self.token_lifetime
            self._refresh.add(refresh)
            scope = str(params.get("scope") or "connection")
            return {"access_token": access, "expires_in": self.token_lifetime, "refresh_token": refresh,
                    "scope": f"{scope} mainaccount trade:read_write", "token_type": "bearer"}

    def _check_signature(self, params: dict) -> None:
        try:
            timestamp = int(params.get("timestamp"))
        except (TypeError, ValueError):
            raise RpcError(-32602, "Invalid params", {"reason": "bad timestamp", "param": "timestamp"}) from None
        nonce, data = str(params.get("nonce") or ""), str(params.get("data") or "")
        expected = hmac.new(self.client_secret.encode(), f"{timestamp}\n{nonce}\n{data}".encode(),
                            hashlib.sha256).hexdigest()
        if params.get("client_id") != self.client_id or not hmac.compare_digest(str(params.get("signature")), expected):
            raise RpcError(13004, "invalid_credentials", http_status=401)
        if abs(self.now_ms() - timestamp) > SIGNATURE_WINDOW_MS or (timestamp, nonce) in self._nonces:
            raise RpcError(13004, "invalid_credentials", {"reason": "stale timestamp or reused nonce"}, http_status=401)
        self._nonces.add((timestamp, nonce))

    # --- market ------------------------------------------------------------------------

    def instrument(self, name) -> FakeInstrument:
        found = self.instruments.get(str(name))
        if found is None:
            raise RpcError(-32602, "Invalid params", {"reason": "instrument not found", "param": "instrument_name"})
        return found

    @staticmethod
    def listing_currency(inst: FakeInstrument) -> str:
        """The ``currency`` that lists it: the coin (inverse) or ``USDC`` (linear)."""
        return inst.row["settlement_currency"]

    def listed_in(self, order: dict, currency: str | None) -> bool:
        name = order["instrument_name"]
        if name in self.combos:  # a combo is listed where its legs are
            name = self.combos[name]["legs"][0]["instrument_name"]
        return currency is None or self.listing_currency(self.instruments[name]) == currency

    def index_of(self, inst: FakeInstrument) -> Decimal:
        return self.index[inst.row["price_index"]]

    def index_price(self, currency: str) -> Decimal:
        return self.index[f"{currency.lower()}_usd"]

    def ticker(self, name, depth: int | None = None) -> dict:
        with self.lock:
            inst = self.instrument(name)
            index = self.index_of(inst)
            result = {
                "timestamp": self.now_ms(), "state": "open", "instrument_name": inst.name,
                "index_price": index, "underlying_price": index,
                "underlying_index": "index_price", "mark_price": inst.mark, "interest_rate": 0,
                # a flat smile: the fake's books are built around the mark, at the chain's volatility
                "mark_iv": inst.mark_iv, "bid_iv": inst.mark_iv if inst.bids else 0,
                "ask_iv": inst.mark_iv if inst.asks else 0,
                "best_bid_price": inst.bids[0][0] if inst.bids else 0, "best_bid_amount": inst.bids[0][1] if inst.bids else 0,
                "best_ask_price": inst.asks[0][0] if inst.asks else 0, "best_ask_amount": inst.asks[0][1] if inst.asks else 0,
                "min_price": inst.band()[0], "max_price": inst.band()[1],
                "stats": {"volume": 0, "price_change": None, "low": None, "high": None},
            }
            if depth is not None:
                result["bids"] = [list(level) for level in inst.bids[:depth]]
                result["asks"] = [list(level) for level in inst.asks[:depth]]
                result["change_id"] = next(self._trade_ids)
            return result

    def book_summary(self, name) -> dict:
        """A ``public/get_book_summary_by_*`` row (the documented fields the fake can fill)."""
        with self.lock:
            inst = self.instrument(name)
            bid = inst.bids[0][0] if inst.bids else None
            ask = inst.asks[0][0] if inst.asks else None
            index = self.index_of(inst)
            return {
                "instrument_name": inst.name, "base_currency": inst.row["base_currency"],
                "quote_currency": inst.row["quote_currency"], "bid_price": bid, "ask_price": ask,
                "mid_price": (bid + ask) / 2 if bid is not None and ask is not None else None,
                "mark_price": inst.mark, "underlying_price": index, "underlying_index": "index_price",
                "estimated_delivery_price": index, "interest_rate": 0, "open_interest": 0, "volume": 0,
                "volume_usd": 0, "last": None, "low": None, "high": None, "price_change": None,
                "creation_timestamp": self.now_ms(),
            }

    # --- orders ------------------------------------------------------------------------

    def place(self, side: str, params: dict, partial_fill: Decimal | None = None,
              partial_fraction: Decimal | None = None) -> dict:
        """``private/buy``/``private/sell``: validate, match against the book, rest the rest."""
        if self.is_combo(params.get("instrument_name")):
            return self.place_combo(side, params, partial_fill, partial_fraction)
        with self.lock:
            inst = self.instrument(params.get("instrument_name"))
            amount, price = _decimal(params, "amount"), _decimal(params, "price")
            tif = params.get("time_in_force") or "good_til_cancelled"
            post_only, label = _bool(params.get("post_only")), str(params.get("label") or "")
            if params.get("type", "limit") != "limit":
                raise RpcError(11029, "invalid_arguments", {"reason": "fake supports limit orders", "param": "type"})
            if len(label) > 64:
                raise RpcError(-32602, "Invalid params", {"reason": "label too long", "param": "label"})
            minimum = inst.row["min_trade_amount"]
            if amount < minimum:
                raise RpcError(10002, "qty_too_low")
            if (amount / minimum) % 1:
                raise RpcError(10021, "invalid_amount", {"reason": f"must be a multiple of {minimum}", "param": "amount"})
            if price <= 0 or (price / row_tick_at(inst.row, price)) % 1:
                raise RpcError(10043, "price_wrong_tick")
            low, high = inst.band()
            if price < low:  # Deribit's documented message form: "price_too_low <Limit>"
                raise RpcError(10005, f"price_too_low {low}")
            if price > high:
                raise RpcError(10007, f"price_too_high {high}")
            if tif not in ("good_til_cancelled", "immediate_or_cancel", "fill_or_kill", "good_til_day"):
                raise RpcError(-32602, "Invalid params", {"reason": "bad time_in_force", "param": "time_in_force"})
            valid_until = params.get("valid_until")
            if valid_until is not None and self.now_ms() > int(valid_until):
                raise RpcError(13888, "timed_out")
            levels = inst.asks if side == "buy" else inst.bids
            crosses = bool(levels) and (levels[0][0] <= price if side == "buy" else levels[0][0] >= price)
            if post_only and crosses:
                raise RpcError(11054, "post_only_reject")
            reduce_cap = None
            if _bool(params.get("reduce_only")):
                held = self._holdings().get(inst.name, (Decimal(0), Decimal(0)))[0]
                if held == 0 or (held > 0) == (side == "buy"):
                    raise RpcError(11029, "invalid_arguments",
                                   {"reason": "reduce_only order would not reduce the position", "param": "reduce_only"})
                reduce_cap = abs(held)  # the fake fills a reduce-only order at most down to flat
            now = self.now_ms()
            currency = self.listing_currency(inst)
            order_id = str(next(self._ids)) if currency == "BTC" else f"{currency}-{next(self._ids)}"
            order = {
                "order_id": order_id, "order_state": "open", "order_type": "limit", "time_in_force": tif,
                "instrument_name": inst.name, "direction": side, "price": price, "amount": amount,
                "contracts": amount, "filled_amount": Decimal(0), "average_price": Decimal(0), "label": label,
                "post_only": post_only, "reject_post_only": _bool(params.get("reject_post_only")),
                "reduce_only": _bool(params.get("reduce_only")), "creation_timestamp": now,
                "last_update_timestamp": now, "api": True, "web": False, "mmp": False, "replaced": False,
                "risk_reducing": False, "is_liquidation": False,
            }
            self.orders[order_id] = order
            self.trades[order_id] = []
            self.placed[label] += 1
            cap = amount if partial_fill is None else min(amount, partial_fill)
            if partial_fraction is not None:
                cap = min(cap, (amount * partial_fraction / minimum).to_integral_value(rounding=ROUND_FLOOR) * minimum)
            if reduce_cap is not None:
                cap = min(cap, reduce_cap)
            trades = self._match(order, levels, cap)
            if tif in ("immediate_or_cancel", "fill_or_kill") and order["order_state"] == "open":
                order["order_state"], order["cancel_reason"] = "cancelled", "immediate_or_cancel"
            return {"order": dict(order), "trades": [dict(t) for t in trades]}

    def _match(self, order: dict, levels: list, cap: Decimal) -> list[dict]:
        trades = []
        buy = order["direction"] == "buy"
        while levels and cap > 0 and (levels[0][0] <= order["price"] if buy else levels[0][0] >= order["price"]):
            level = levels[0]
            size = min(level[1], cap)
            trades.append(self._trade(order, size, level[0], "T"))
            level[1] -= size
            cap -= size
            if level[1] <= 0:
                levels.pop(0)
        self._settle(order)
        return trades

    def _trade(self, order: dict, size: Decimal, price: Decimal, liquidity: str) -> dict:
        filled = order["filled_amount"]
        order["average_price"] = (order["average_price"] * filled + price * size) / (filled + size)
        order["filled_amount"] = filled + size
        order["last_update_timestamp"] = self.now_ms()
        inst = self.instruments[order["instrument_name"]]
        rate = inst.row["maker_commission" if liquidity == "M" else "taker_commission"]
        # inverse: a share of the coin per contract; linear: a share of the index, in USDC
        per_unit = rate * (self.index_of(inst) if inst.row["instrument_type"] == "linear" else 1)
        currency = self.listing_currency(inst)
        fee = min(per_unit * size, FEE_CAP * price * size).quantize(Decimal("0.00000001"))
        trade = {
            "trade_id": f"{currency}-{next(self._trade_ids)}", "timestamp": order["last_update_timestamp"],
            "price": price, "amount": size, "direction": order["direction"], "liquidity": liquidity, "fee": fee,
            "fee_currency": currency, "order_id": order["order_id"], "label": order["label"],
            "instrument_name": order["instrument_name"], "order_type": "limit", "state": "filled",
            "index_price": self.index_of(inst),
        }
        self.trades[order["order_id"]].append(trade)
        return trade

    @staticmethod
    def _settle(order: dict) -> None:
        if order["filled_amount"] >= order["amount"]:
            order["order_state"] = "filled"

    def order_state(self, order_id) -> dict:
        with self.lock:
            order = self.orders.get(str(order_id))
            if order is None:
                raise RpcError(10004, "order_not_found")
            return dict(order)

    def by_label(self, currency, label) -> list[dict]:
        with self.lock:
            return [dict(o) for o in self.orders.values() if o["label"] == label and self.listed_in(o, currency)]

    def cancel(self, order_id) -> dict:
        with self.lock:
            order = self.orders.get(str(order_id))
            if order is None:
                raise RpcError(10004, "order_not_found")
            if order["order_state"] != "open":
                raise RpcError(11044, "not_open_order")
            order["order_state"], order["cancel_reason"] = "cancelled", "user_request"
            order["last_update_timestamp"] = self.now_ms()
            return dict(order)

    def cancel_by_label(self, label, currency=None) -> int:
        with self.lock:
            count = 0
            for order in self.orders.values():
                if order["label"] == label and order["order_state"] == "open" and self.listed_in(order, currency):
                    order["order_state"], order["cancel_reason"] = "cancelled", "user_request"
                    count += 1
            return count

    # --- positions (from the trades: the book of record) -------------------------------

    def position_of(self, name: str) -> Decimal:
        """The account's net position in ``name``, in contracts (negative: short), from its trades."""
        with self.lock:
            return self._holdings().get(name, (Decimal(0), Decimal(0)))[0]

    def _holdings(self) -> dict[str, tuple[Decimal, Decimal]]:
        """instrument -> (signed size, average price of what is held), from every trade in order."""
        held: dict[str, tuple[Decimal, Decimal]] = {}
        for trades in self.trades.values():
            for t in trades:
                size, average = held.get(t["instrument_name"], (Decimal(0), Decimal(0)))
                signed = t["amount"] if t["direction"] == "buy" else -t["amount"]
                after = size + signed
                if size == 0 or (size > 0) == (signed > 0):
                    average = (size * average + signed * t["price"]) / after
                elif after == 0:
                    average = Decimal(0)
                elif (after > 0) != (size > 0):
                    average = t["price"]
                held[t["instrument_name"]] = (after, average)
        return held

    def positions(self, currency, kind=None) -> list[dict]:
        """``private/get_positions``: the documented position fields, for open option positions."""
        if kind not in (None, "option"):
            return []
        with self.lock:
            rows = []
            for name, (size, average) in self._holdings().items():
                inst = self.instruments[name]
                if size == 0 or self.listing_currency(inst) != currency:
                    continue
                rows.append({
                    "instrument_name": name, "kind": "option", "size": size,
                    "direction": "buy" if size > 0 else "sell", "average_price": average,
                    "mark_price": inst.mark, "index_price": self.index_of(inst),
                    "floating_profit_loss": ((inst.mark - average) * size).quantize(Decimal("0.00000001")),
                    "settlement_price": 0, "delta": 0, "gamma": 0, "vega": 0, "theta": 0,
                    "initial_margin": 0, "maintenance_margin": 0, "realized_profit_loss": 0,
                    "total_profit_loss": 0, "open_orders_margin": 0,
                })
            return rows

    def user_trades(self, order_id) -> list[dict]:
        with self.lock:
            return [dict(t) for t in self.trades.get(str(order_id), [])]


def _decimal(params: dict, name: str) -> Decimal:
    value = params.get(name)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except Exception:  # noqa: BLE001 - any unparsable value is the same JSON-RPC error
        raise RpcError(-32602, "Invalid params", {"reason": "not a number", "param": name}) from None
    if not number.is_finite():
        raise RpcError(-32602, "Invalid params", {"reason": "not a number", "param": name})
    return number


def _bool(value) -> bool:
    return value is True or str(value).lower() == "true"
