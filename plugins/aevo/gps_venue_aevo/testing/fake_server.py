"""A fake Aevo REST server on 127.0.0.1, for tests, benchmarks and reliability drills.

It speaks the wire protocol the plugin speaks to the real venue:

* public ``GET /markets``, ``/orderbook``, ``/index``, ``/time`` with BTC and ETH option
  chains whose expiries are computed from today's date (so they never go stale);
* private calls checked like Aevo checks them: the HMAC headers over the exact body, the
  EIP-712 signer of every order recovered and compared with the signing keys registered
  for the maker, the order id computed as the EIP-712 digest;
* order state: orders fill at once against the fake's own book with depth (at or better
  than the limit), the rest rests (GTC) or is cancelled (IOC);
* history like Aevo's: ``GET /order-history`` and ``GET /trade-history`` (every fill with
  its fee) answer at most 50 rows a call, newest first, with ``offset`` and ``count``;
* faults injected from Python: latency, 429 with ``X-RETRY-AFTER``, 5xx, a connection
  dropped before or after the order is accepted, partial fills, rejects, an error answer
  after the order was accepted.

Every ``POST /orders`` is counted (``orders_received``) and every accepted order kept
(``orders``): the book of record that proves an order was never placed twice.

Standalone: ``python -m gps_venue_aevo.testing.fake_server --port 8765`` prints the environment
variables (throwaway keys) that point gps at it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from urllib.parse import parse_qs, urlsplit

from gps_core.api import MONTHS
from gps_core.testing.market import black_scholes, expiry_calendar, expiry_moment
from gps_core.testing.server import LocalServer, QuietHandler

from ..config import MAINNET_DOMAIN, TESTNET_DOMAIN, SigningDomain

D = Decimal
ZERO = D(0)
NS = 10**9
#: How far an HMAC timestamp may be from the fake's clock.
MAX_SKEW_NS = 30 * NS
#: Aevo options fees (docs.aevo.xyz options fees): a share of the index value per contract,
#: capped at 12.5% of the option's price.
TAKER_FEE, MAKER_FEE, FEE_CAP = D("0.0005"), D("0.0003"), D("0.125")
#: History endpoints: rows per call at most / by default, and how far back (Aevo changelog v1.1.10).
HISTORY_MAX_LIMIT, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_AGE_NS = 50, 10, 30 * 86400 * NS
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ORDER_TYPE = b"Order(address maker,bool isBuy,uint256 limitPrice,uint256 amount,uint256 salt,uint256 instrument,uint256 timestamp)"
DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId)"


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def _snap(value: Decimal, step: Decimal, *, up: bool) -> Decimal:
    units = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (units * step).quantize(step)


# --- EIP-712, computed here independently of the plugin's signing code ---------------------


def _keccak(data: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(data)


def _word(value: int) -> bytes:
    return int(value).to_bytes(32, "big")


def domain_separator(domain: SigningDomain) -> bytes:
    return _keccak(_keccak(DOMAIN_TYPE) + _keccak(domain.name.encode()) + _keccak(domain.version.encode())
                   + _word(domain.chain_id))


def order_struct_hash(maker: str, is_buy: bool, limit_price: int, amount: int, salt: int, instrument: int,
                      timestamp: int) -> bytes:
    return _keccak(_keccak(ORDER_TYPE) + _word(int(maker, 16)) + _word(1 if is_buy else 0) + _word(limit_price)
                   + _word(amount) + _word(salt) + _word(instrument) + _word(timestamp))


def recover_signer(domain: SigningDomain, struct_hash: bytes, signature: str) -> str:
    """The address that signed an EIP-712 message; raises ``ValueError`` on a malformed signature."""
    from eth_account import Account
    from eth_account.messages import SignableMessage

    raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
    if len(raw) != 65:
        raise ValueError("signature is not 65 bytes")
    message = SignableMessage(version=b"\x01", header=domain_separator(domain), body=struct_hash)
    return Account.recover_message(message, signature=raw)


# --- the market ---------------------------------------------------------------------------


def expiries_from(today: date, now: datetime) -> list[datetime]:
    """Aevo-like expiries at 08:00 UTC: two dailies, three weeklies (Fridays), the next
    three month-ends (last Friday) and the quarter-ends up to a year out, all at least an hour away."""
    live = lambda day: expiry_moment(day) > now + timedelta(hours=1)  # noqa: E731
    days = expiry_calendar(today, dailies=2, weeklies=3, monthlies=3, quarterly_horizon=timedelta(days=366), live=live)
    return [expiry_moment(day) for day in days]


@dataclass(frozen=True)
class AssetSpec:
    index: Decimal
    strikes: tuple[Decimal, ...]
    vol: float
    price_step: Decimal
    amount_step: Decimal
    depth: tuple[Decimal, ...]  # contracts per level, best first


ASSETS = {
    "BTC": AssetSpec(D("95000"), tuple(D(s) for s in range(70000, 130001, 5000)), 0.55, D("0.5"), D("0.01"),
                     (D("0.5"), D("1.5"), D("4"))),
    "ETH": AssetSpec(D("3500"), tuple(D(s) for s in range(2500, 4501, 100)), 0.65, D("0.05"), D("0.01"),
                     (D("5"), D("15"), D("40"))),
}


@dataclass
class Market:
    instrument_id: int
    name: str
    asset: str
    expiry: datetime
    strike: Decimal
    call: bool
    mark: Decimal
    price_step: Decimal
    amount_step: Decimal
    min_order_value: Decimal = D("0.01")
    is_active: bool = True
    iv: Decimal = D("0.6")  # the volatility the mark was computed with, as /markets greeks.iv sends it
    bids: list[list[Decimal]] = field(default_factory=list)  # [price, amount], best first
    asks: list[list[Decimal]] = field(default_factory=list)

    def to_json(self, index: Decimal) -> dict:
        return {
            "instrument_id": str(self.instrument_id),
            "instrument_name": self.name,
            "instrument_type": "OPTION",
            "underlying_asset": self.asset,
            "quote_asset": "USDC",
            "price_step": _text(self.price_step),
            "amount_step": _text(self.amount_step),
            "min_order_value": _text(self.min_order_value),
            "max_order_value": "5000000",
            "max_notional_value": "50000000",
            "mark_price": _text(self.mark),
            "forward_price": _text(index),
            "index_price": _text(index),
            "is_active": self.is_active,
            "option_type": "call" if self.call else "put",
            "expiry": str(int(self.expiry.timestamp()) * NS),
            "strike": _text(self.strike),
            "greeks": {"delta": "0", "gamma": "0", "rho": "0", "theta": "0", "vega": "0", "iv": _text(self.iv)},
        }


def _name(asset: str, expiry: datetime, strike: Decimal, call: bool) -> str:
    return f"{asset}-{expiry.day}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}-{_text(strike)}-{'C' if call else 'P'}"


# --- accounts, orders, faults ---------------------------------------------------------------


@dataclass
class Account:
    api_key: str
    api_secret: str
    wallet: str
    signing_keys: dict[str, int]  # lowercase address -> expiry (ns)
    positions: dict[int, Decimal] = field(default_factory=dict)  # instrument id -> signed contracts


@dataclass
class Fault:
    """One injected fault, applied to the next ``times`` matching requests."""

    #: latency | rate_limit | server_error | drop_before | drop_after | reject | partial_fill |
    #: error_after (the request is carried out, the reply is ``status`` with ``{"error": code}``)
    kind: str
    method: str
    path: str
    times: int = 1
    seconds: float = 0.0
    retry_after_ns: int = 2 * NS
    status: int = 500
    code: str = "INTERNAL_ERROR"
    fill: Decimal | None = None  # partial_fill: contracts filled at once (the rest rests)
    seed: int = 0  # POST /orders: after accepting the order, this many newer orders of the account appear
    fraction: Decimal | None = None  # partial_fill: or this fraction of the order's size

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and (path == self.path or (
            self.path.endswith("*") and path.startswith(self.path[:-1])))


class _Reply(Exception):
    """An HTTP reply raised from deep in a handler (an Aevo error)."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(code: str, status: int = 400) -> _Reply:
    return _Reply(status, {"error": code})


class FakeAevo:
    """The fake venue's state. Thread-safe; inspect it from tests (``orders``, ``orders_received``)."""

    def __init__(self, *, testnet: bool = False, now: datetime | None = None):
        self.lock = threading.RLock()
        self._fresh(testnet, now)

    #: When true, ``GET /orders/{id}`` answers ORDER_DOES_NOT_EXIST for closed orders (only
    #: ``/order-history`` has them), a behaviour the live venue may have.
    forget_closed = False

    def reset(self, *, testnet: bool = False, now: datetime | None = None) -> "FakeAevo":
        """Forget every account, order and fault and rebuild the markets (a running server keeps serving)."""
        with self.lock:
            self._fresh(testnet, now)
        return self

    def _fresh(self, testnet: bool, now: datetime | None) -> None:
        self.forget_closed = False
        self.domain = TESTNET_DOMAIN if testnet else MAINNET_DOMAIN
        self.accounts: dict[str, Account] = {}
        self.index = {asset: spec.index for asset, spec in ASSETS.items()}
        self.markets: dict[int, Market] = {}
        self.by_name: dict[str, Market] = {}
        self.orders: dict[str, dict] = {}  # order id -> Aevo order object (accepted orders only)
        self.orders_received: list[dict] = []  # every POST /orders body that reached the server
        self.trades: list[dict] = []  # every fill, as GET /trade-history rows (with a private _account)
        #: When false, fills are not (yet) in GET /trade-history, as when Aevo's history lags.
        self.trades_visible = True
        self.requests: list[tuple[str, str]] = []
        self.queries: list[tuple[str, dict]] = []  # (path, query) of every history request
        self.faults: list[Fault] = []
        self._build_markets(now or datetime.now(timezone.utc))

    # --- setup -----------------------------------------------------------------------

    def _build_markets(self, now: datetime) -> None:
        next_id = 1000
        for asset, spec in ASSETS.items():
            for expiry in expiries_from(now.date(), now):
                years = (expiry - now).total_seconds() / (365 * 86400)
                for strike in spec.strikes:
                    for call in (True, False):
                        value = black_scholes(float(spec.index), float(strike), years, spec.vol, call)
                        mark = max(spec.price_step * 2, _snap(D(repr(value)), spec.price_step, up=False))
                        market = Market(next_id, _name(asset, expiry, strike, call), asset, expiry, strike, call,
                                        mark, spec.price_step, spec.amount_step, iv=D(repr(spec.vol)))
                        self._default_book(market, spec)
                        self.markets[next_id] = market
                        self.by_name[market.name] = market
                        next_id += 1

    @staticmethod
    def _default_book(market: Market, spec: AssetSpec) -> None:
        step = market.price_step
        spread = max(step, _snap(market.mark * D("0.01"), step, up=True))
        ask = _snap(market.mark * D("1.02"), step, up=True)
        bid = _snap(market.mark * D("0.98"), step, up=False)
        market.asks = [[ask + spread * i, amount] for i, amount in enumerate(spec.depth)]
        market.bids = [[bid - spread * i, amount] for i, amount in enumerate(spec.depth) if bid - spread * i > 0]

    def add_account(self, *, api_key: str, api_secret: str, wallet: str, signing_key_address: str,
                    expiry_ns: int = 2**256 - 1) -> Account:
        """Register an API key pair for ``wallet`` with one signing key."""
        with self.lock:
            account = Account(api_key, api_secret, wallet, {signing_key_address.lower(): expiry_ns})
            self.accounts[api_key] = account
            return account

    def create_account(self, **kwargs) -> dict[str, str]:
        """A fresh account with throwaway keys; returns the ``AEVO_*`` variables for gps."""
        from eth_account import Account as EthAccount

        wallet, signer = EthAccount.create(), EthAccount.create()
        api_key, api_secret = secrets.token_hex(16), secrets.token_hex(32)
        self.add_account(api_key=api_key, api_secret=api_secret, wallet=wallet.address,
                         signing_key_address=signer.address, **kwargs)
        return {"AEVO_API_KEY": api_key, "AEVO_API_SECRET": api_secret,
                "AEVO_SIGNING_KEY": "0x" + bytes(signer.key).hex(), "AEVO_WALLET_ADDRESS": wallet.address}

    def inject(self, kind: str, *, method: str = "POST", path: str = "/orders", times: int = 1, **params) -> Fault:
        """Make the next ``times`` matching requests fail (``path`` may end with ``*``)."""
        for name in ("fill", "fraction"):
            if params.get(name) is not None:
                params[name] = D(str(params[name]))
        fault = Fault(kind, method, path, times, **params)
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    # --- queries for tests -------------------------------------------------------------

    def market(self, name: str) -> Market:
        return self.by_name[name]

    def option_names(self, asset: str = "BTC", *, call: bool | None = None) -> list[str]:
        """Instrument names of ``asset``, nearest expiry first, strikes ascending."""
        chosen = [m for m in self.markets.values() if m.asset == asset and (call is None or m.call == call)]
        return [m.name for m in sorted(chosen, key=lambda m: (m.expiry, m.strike, not m.call))]

    def fill(self, order_id: str, amount: Decimal | None = None) -> dict:
        """Fill a resting order (all of it, or ``amount`` more contracts) as if someone traded with it."""
        with self.lock:
            order = self.orders[order_id]
            remaining = D(order["amount"]) - D(order["filled"])
            take = remaining if amount is None else min(D(str(amount)), remaining)
            self._apply_fill(order, take, D(order["price"]), liquidity="maker")
            return dict(order)

    # --- public endpoints ----------------------------------------------------------------

    def get_markets(self, query: dict) -> list[dict]:
        asset = (query.get("asset") or "").upper()
        kind = (query.get("instrument_type") or "OPTION").upper()
        if kind != "OPTION":
            return []
        with self.lock:
            return [m.to_json(self.index[m.asset]) for m in self.markets.values() if not asset or m.asset == asset]

    def get_orderbook(self, query: dict) -> dict:
        market = self.by_name.get(query.get("instrument_name") or "")
        if market is None:
            raise _error("INSTRUMENT_NOT_FOUND")
        with self.lock:
            return {
                "type": "snapshot",
                "instrument_id": str(market.instrument_id),
                "instrument_name": market.name,
                "instrument_type": "OPTION",
                "bids": [[_text(p), _text(a), _text(market.iv)] for p, a in market.bids],
                "asks": [[_text(p), _text(a), _text(market.iv)] for p, a in market.asks],
                "last_updated": str(time.time_ns()),
                "checksum": "0",
            }

    def get_index(self, query: dict) -> dict:
        asset = (query.get("asset") or "").upper()
        if asset not in self.index:
            raise _error("INVALID_ASSET")
        return {"price": _text(self.index[asset]), "timestamp": str(time.time_ns())}

    # --- private endpoints ---------------------------------------------------------------

    def authenticate(self, method: str, path: str, headers, body: bytes) -> Account:
        """Check ``AEVO-KEY`` / ``AEVO-TIMESTAMP`` / ``AEVO-SIGNATURE`` over exactly ``body``."""
        key, stamp, sig = (headers.get(h) for h in ("AEVO-KEY", "AEVO-TIMESTAMP", "AEVO-SIGNATURE"))
        if not key or not sig:
            raise _error("UNAUTHORIZED", 401)
        account = self.accounts.get(key)
        if account is None:
            raise _error("ACCOUNT_INVALID_API_KEY", 401)
        if not stamp or not stamp.isdigit():
            raise _error("TIMESTAMP_MISSING", 401)
        if abs(time.time_ns() - int(stamp)) > MAX_SKEW_NS:
            raise _error("TIMESTAMP_TOO_OLD", 401)
        message = ",".join((key, stamp, method, path, body.decode("utf-8", "replace")))
        expected = hmac.new(account.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            raise _error("INVALID_SIGNATURE", 401)
        return account

    def get_account(self, account: Account) -> dict:
        return {
            "account": account.wallet,
            "signing_keys": [{"signing_key": k, "expiry": str(e), "created_timestamp": "0"}
                             for k, e in account.signing_keys.items()],
        }

    def post_order(self, account: Account, body: bytes, fault: Fault | None) -> dict:
        try:
            data = json.loads(body)
        except ValueError:
            raise _error("ERR_MALFORMED_REQUEST") from None
        with self.lock:
            self.orders_received.append(data if isinstance(data, dict) else {"raw": data})
        if not isinstance(data, dict):
            raise _error("ERR_MALFORMED_REQUEST")
        try:
            instrument = int(data["instrument"])
            maker = str(data["maker"])
            is_buy = data["is_buy"]
            limit_price, amount, salt = int(data["limit_price"]), int(data["amount"]), int(data["salt"])
            timestamp = int(data["timestamp"])
            signature = str(data["signature"])
        except (KeyError, TypeError, ValueError):
            raise _error("ERR_MALFORMED_REQUEST") from None
        if not isinstance(is_buy, bool) or not isinstance(data["amount"], str) or not isinstance(data["limit_price"], str):
            raise _error("ERR_MALFORMED_REQUEST")
        tif = data.get("time_in_force", "GTC")
        if tif not in ("GTC", "IOC"):
            raise _error("INVALID_ORDER_TIME_IN_FORCE")
        market = self.markets.get(instrument)
        if market is None:
            raise _error("INVALID_INSTRUMENT")
        if maker.lower() != account.wallet.lower():
            raise _error("ORDER_INVALID_MAKER")
        struct = order_struct_hash(maker, is_buy, limit_price, amount, salt, instrument, timestamp)
        try:
            signer = recover_signer(self.domain, struct, signature).lower()
        except Exception:  # noqa: BLE001 - any malformed signature
            raise _error("ORDER_INVALID_SIGNATURE") from None
        if signer not in account.signing_keys:
            raise _error("ORDER_INVALID_SIGNING_KEY")
        if account.signing_keys[signer] <= time.time_ns():
            raise _error("OLD_SIGNING_KEY")
        if abs(time.time() - timestamp) > 300:
            raise _error("ORDER_INVALID_TIME")
        if fault is not None and fault.kind == "reject":
            raise _error(fault.code, fault.status if fault.status < 500 else 400)
        order_id = "0x" + _keccak(b"\x19\x01" + domain_separator(self.domain) + struct).hex()
        price, size = D(limit_price).scaleb(-6), D(amount).scaleb(-6)
        if not market.is_active:
            raise _error("INSTRUMENT_INACTIVE")
        if price <= 0 or price % market.price_step:
            raise _error("INVALID_PRICE_STEP_SIZE")
        if size <= 0 or size % market.amount_step:
            raise _error("INVALID_AMOUNT_STEP_SIZE")
        if price * size < market.min_order_value:
            raise _error("BELOW_MIN_ORDER_VALUE")
        with self.lock:
            if order_id in self.orders:
                raise _error("ORDER_EXISTS")
            if data.get("reduce_only"):
                position = account.positions.get(instrument, ZERO)
                if position == 0:
                    raise _error("NO_POSITION_REDUCE_ONLY")
                if (position > 0) == is_buy:
                    raise _error("INVALID_DIRECTION_REDUCE_ONLY")
                if size > abs(position):
                    raise _error("ORDER_EXCEEDS_CAPACITY_OF_REDUCE_ONLY")
            crossing = self._crossing(market, is_buy, price)
            if data.get("post_only") and crossing:
                raise _error("GTC_ORDER_REJECTED")  # Aevo documents no post-only-specific code
            cap = fault.fill if fault is not None and fault.kind == "partial_fill" else None
            if fault is not None and fault.kind == "partial_fill" and fault.fraction is not None:
                cap = max(market.amount_step, _snap(size * fault.fraction, market.amount_step, up=False))
            fills = self._match(market, is_buy, price, size if cap is None else min(size, cap), dry_run=True)
            if tif == "IOC" and not fills:
                raise _error("IOC_ORDER_REJECTED")
            now_ns = str(time.time_ns())
            order = {
                "order_id": order_id, "account": account.wallet, "instrument_id": str(instrument),
                "instrument_name": market.name, "instrument_type": "OPTION", "order_type": "limit",
                "side": "buy" if is_buy else "sell", "amount": _text(size), "price": _text(price),
                "avg_price": "0", "filled": "0", "order_status": "opened",
                "post_only": bool(data.get("post_only")), "reduce_only": bool(data.get("reduce_only")),
                "time_in_force": tif, "option_type": "call" if market.call else "put",
                "expiry": str(int(market.expiry.timestamp()) * NS), "strike": _text(market.strike),
                "created_timestamp": now_ns, "timestamp": now_ns, "system_type": "API",
                "_account": account.api_key, "_salt": str(salt), "_signer": signer,
            }
            self.orders[order_id] = order
            self._match(market, is_buy, price, size if cap is None else min(size, cap), order=order)
            if tif == "IOC" and order["order_status"] in ("opened", "partial"):
                order["order_status"] = "cancelled"
            if fault is not None and fault.seed:
                self.seed_orders(account.api_key, fault.seed, created_ns=int(now_ns) + 1)
            return self._public(order)

    @staticmethod
    def _crossing(market: Market, is_buy: bool, price: Decimal) -> bool:
        levels = market.asks if is_buy else market.bids
        return bool(levels) and (levels[0][0] <= price if is_buy else levels[0][0] >= price)

    def _match(self, market: Market, is_buy: bool, price: Decimal, size: Decimal, *, dry_run: bool = False,
               order: dict | None = None) -> list[tuple[Decimal, Decimal]]:
        """Take liquidity at or better than ``price`` up to ``size``; returns [(price, amount)]."""
        levels = market.asks if is_buy else market.bids
        fills, remaining = [], size
        for level in levels:
            if remaining <= 0 or (level[0] > price if is_buy else level[0] < price):
                break
            take = min(remaining, level[1])
            fills.append((level[0], take))
            remaining -= take
            if not dry_run:
                level[1] -= take
        if not dry_run:
            levels[:] = [lv for lv in levels if lv[1] > 0]
            for fill_price, amount in fills:
                self._apply_fill(order, amount, fill_price, liquidity="taker")
        return fills

    def _apply_fill(self, order: dict, amount: Decimal, price: Decimal, *, liquidity: str) -> None:
        if amount <= 0:
            return
        self._record_trade(order, amount, price, liquidity)
        filled, average = D(order["filled"]), D(order["avg_price"])
        total = filled + amount
        order["avg_price"] = _text((filled * average + amount * price) / total)
        order["filled"] = _text(total)
        order["order_status"] = "filled" if total == D(order["amount"]) else "partial"
        order["timestamp"] = str(time.time_ns())
        account = self.accounts[order["_account"]]
        instrument = int(order["instrument_id"])
        signed = amount if order["side"] == "buy" else -amount
        account.positions[instrument] = account.positions.get(instrument, ZERO) + signed

    def _record_trade(self, order: dict, amount: Decimal, price: Decimal, liquidity: str) -> None:
        """One GET /trade-history row per fill (a taker fill: one row per level it took)."""
        market = self.markets[int(order["instrument_id"])]
        rate = TAKER_FEE if liquidity == "taker" else MAKER_FEE
        fee = min(rate * self.index[market.asset], FEE_CAP * price) * amount
        self.trades.append({
            "trade_id": "".join(secrets.choice(_BASE58) for _ in range(44)), "order_id": order["order_id"],
            "trade_type": "trade", "account": order["account"], "instrument_id": order["instrument_id"],
            "instrument_name": market.name, "instrument_type": "OPTION", "asset": market.asset,
            "spot_price": _text(self.index[market.asset]), "amount": _text(amount), "price": _text(price),
            "mark_price": _text(market.mark), "side": order["side"],
            "fees": _text(fee.quantize(D("0.000001"))), "liquidity": liquidity,
            "option_type": "call" if market.call else "put", "strike": _text(market.strike),
            "expiry": str(int(market.expiry.timestamp()) * NS), "order_type": "limit",
            "created_timestamp": str(time.time_ns()), "_account": order["_account"],
        })

    @staticmethod
    def _public(order: dict) -> dict:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def _owned(self, account: Account, order_id: str) -> dict:
        order = self.orders.get(order_id.lower())
        if order is None or order["_account"] != account.api_key:
            raise _error("ORDER_DOES_NOT_EXIST")
        return order

    def get_order(self, account: Account, order_id: str) -> dict:
        with self.lock:
            order = self._owned(account, order_id)
            if self.forget_closed and order["order_status"] not in ("opened", "partial"):
                raise _error("ORDER_DOES_NOT_EXIST")
            return self._public(order)

    @staticmethod
    def _window(query: dict) -> tuple[int, int, int, int]:
        """``(start, end, limit, offset)`` of a history query, checked like Aevo checks them."""
        now = time.time_ns()
        try:
            start = int(query.get("start_time") or now - HISTORY_MAX_AGE_NS)
            end = int(query.get("end_time") or now)
            limit = int(query.get("limit") or HISTORY_DEFAULT_LIMIT)
            offset = int(query.get("offset") or 0)
        except ValueError:
            raise _error("BAD_REQUEST") from None
        if start < now - HISTORY_MAX_AGE_NS:
            raise _error("START_TIME_LESS_THAN_30_DAYS")
        if offset < 0:
            raise _error("INVALID_OFFSET_NUMBER")
        return start, end, max(1, min(limit, HISTORY_MAX_LIMIT)), offset

    @staticmethod
    def _page(rows: list[dict], key: str, start: int, end: int, limit: int, offset: int, fields) -> dict:
        """Rows created in [start, end], newest first, ``limit`` of them from ``offset``; ``count`` = all."""
        chosen = [r for r in rows if start <= int(r["created_timestamp"]) <= end]
        chosen.sort(key=lambda r: (int(r["created_timestamp"]), r[fields[0]]), reverse=True)
        page = [{k: r[k] for k in fields if k in r} for r in chosen[offset:offset + limit]]
        return {"count": str(len(chosen)), key: page}

    def get_order_history(self, account: Account, query: dict) -> dict:
        start, end, limit, offset = self._window(query)
        fields = ("order_id", "account", "instrument_id", "instrument_name", "instrument_type", "order_type",
                  "side", "amount", "price", "filled", "option_type", "expiry", "strike", "order_status",
                  "created_timestamp")
        with self.lock:
            mine = [o for o in self.orders.values() if o["_account"] == account.api_key]
            return self._page(mine, "order_history", start, end, limit, offset, fields)

    def get_trade_history(self, account: Account, query: dict) -> dict:
        start, end, limit, offset = self._window(query)
        with self.lock:
            mine = [t for t in self.trades if t["_account"] == account.api_key and self.trades_visible
                    and query.get("asset", t["asset"]) == t["asset"]
                    and query.get("instrument_type", "OPTION") == "OPTION"]
            fields = tuple(k for k in (mine[0] if mine else {"trade_id": ""}) if not k.startswith("_"))
            return self._page(mine, "trade_history", start, end, limit, offset, fields)

    def seed_orders(self, api_key: str, count: int, *, created_ns: int | None = None, asset: str = "ETH") -> list[str]:
        """``count`` filled orders of the account, each with its fill, made elsewhere (another app,
        the UI), ``created_ns`` on (default now, 1 ns apart): history the plugin must page through."""
        name = self.option_names(asset, call=True)[0]
        market = self.by_name[name]
        stamp = created_ns or time.time_ns()
        ids = []
        with self.lock:
            wallet = self.accounts[api_key].wallet
            for n in range(count):
                order_id = "0x" + hashlib.sha256(f"seed-{stamp}-{n}".encode()).hexdigest()
                self.orders[order_id] = {
                    "order_id": order_id, "account": wallet, "instrument_id": str(market.instrument_id),
                    "instrument_name": name, "instrument_type": "OPTION", "order_type": "limit", "side": "buy",
                    "amount": "1", "price": _text(market.mark), "avg_price": _text(market.mark), "filled": "1",
                    "order_status": "filled", "option_type": "call", "expiry": str(int(market.expiry.timestamp()) * NS),
                    "strike": _text(market.strike), "created_timestamp": str(stamp + n), "timestamp": str(stamp + n),
                    "system_type": "WEB", "_account": api_key, "_salt": f"seed-{n}", "_signer": "",
                }
                self._record_trade(self.orders[order_id], D(1), market.mark, "taker")
                self.trades[-1]["created_timestamp"] = str(stamp + n)
                ids.append(order_id)
        return ids

    def get_positions(self, account: Account) -> dict:
        """``GET /positions``: the documented position objects, built from the account's fills."""
        with self.lock:
            averages: dict[int, tuple[Decimal, Decimal]] = {}
            for trade in self.trades:
                if trade["_account"] != account.api_key:
                    continue
                instrument = int(trade["instrument_id"])
                size, average = averages.get(instrument, (ZERO, ZERO))
                signed = D(trade["amount"]) if trade["side"] == "buy" else -D(trade["amount"])
                after = size + signed
                if size == 0 or (size > 0) == (signed > 0):
                    average = (size * average + signed * D(trade["price"])) / after
                elif after == 0:
                    average = ZERO
                elif (after > 0) != (size > 0):
                    average = D(trade["price"])
                averages[instrument] = (after, average)
            rows = []
            for instrument, size in account.positions.items():
                if size == 0:
                    continue
                market = self.markets[instrument]
                average = averages.get(instrument, (ZERO, ZERO))[1]
                rows.append({
                    "instrument_id": str(instrument), "instrument_name": market.name, "instrument_type": "OPTION",
                    "asset": market.asset, "amount": _text(abs(size)), "side": "buy" if size > 0 else "sell",
                    "avg_entry_price": _text(average.quantize(D("0.000001"))), "mark_price": _text(market.mark),
                    "unrealized_pnl": _text(((market.mark - average) * size).quantize(D("0.000001"))),
                    "maintenance_margin": "0",
                    "option": {"strike": _text(market.strike), "option_type": "call" if market.call else "put",
                               "expiry": str(int(market.expiry.timestamp()) * NS), "iv": "0.6", "delta": "0",
                               "theta": "0", "vega": "0", "rho": "0"},
                })
            return {"positions": rows}

    def position_of(self, api_key: str, instrument_name: str) -> Decimal:
        """The account's net position in ``instrument_name`` (signed contracts): the book of record."""
        with self.lock:
            account = self.accounts[api_key]
            market = next(m for m in self.markets.values() if m.name == instrument_name)
            return account.positions.get(market.instrument_id, ZERO)

    def get_open_orders(self, account: Account) -> list[dict]:
        with self.lock:
            return [self._public(o) for o in self.orders.values()
                    if o["_account"] == account.api_key and o["order_status"] in ("opened", "partial")]

    def delete_order(self, account: Account, order_id: str) -> dict:
        with self.lock:
            order = self._owned(account, order_id)
            status = order["order_status"]
            if status == "filled":
                raise _error("ORDER_EXISTS_MATCHED")
            if status in ("cancelled", "expired", "rejected"):
                raise _error("ORDER_CANCELLED")
            order["order_status"] = "cancelled"
            order["timestamp"] = str(time.time_ns())
            return {"order_id": order["order_id"]}

    # --- counting ------------------------------------------------------------------------

    def orders_for(self, salt: int | str) -> list[dict]:
        """Accepted orders carrying ``salt`` (gps derives it from the client order id)."""
        with self.lock:
            return [self._public(o) for o in self.orders.values() if o["_salt"] == str(salt)]

    def received_for(self, salt: int | str) -> list[dict]:
        """Every ``POST /orders`` body carrying ``salt``, accepted or not."""
        with self.lock:
            return [b for b in self.orders_received if str(b.get("salt")) == str(salt)]


class FakeAevoHandler(QuietHandler):
    """HTTP front of :class:`FakeAevo`."""

    def do_GET(self):  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        fake: FakeAevo = self.state
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self.read_body()
        with fake.lock:
            fake.requests.append((method, path))
            if path in ("/order-history", "/trade-history"):
                fake.queries.append((path, dict(query)))
        fault = fake._take_fault(method, path)
        if fault is not None:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
            elif fault.kind == "rate_limit":
                retry = str(fault.retry_after_ns)
                self._json(429, {"error": "RATE_LIMIT_EXCEEDED", "retry_after": retry}, {"X-RETRY-AFTER": retry})
                return
            elif fault.kind == "server_error":
                self._json(fault.status, {"error": fault.code})
                return
            elif fault.kind == "drop_before":
                self.drop_connection()
                return
        try:
            status, payload = 200, self._route(fake, method, path, query, body, fault)
        except _Reply as reply:
            status, payload = reply.status, reply.body
        if fault is not None and fault.kind == "drop_after":
            self.drop_connection()  # processed, but the reply is lost
            return
        if fault is not None and fault.kind == "error_after":
            status, payload = fault.status, {"error": fault.code}  # processed, but answered with an error
        self._json(status, payload)

    def _route(self, fake: FakeAevo, method: str, path: str, query: dict, body: bytes, fault: Fault | None):
        if method == "GET" and path == "/markets":
            return fake.get_markets(query)
        if method == "GET" and path == "/orderbook":
            return fake.get_orderbook(query)
        if method == "GET" and path == "/index":
            return fake.get_index(query)
        if method == "GET" and path == "/time":
            now = time.time_ns()
            return {"name": "fake-aevo", "timestamp": str(now), "time": now // NS, "sequence": 0, "block": 0}
        account = fake.authenticate(method, path, self.headers, body)
        if method == "GET" and path == "/account":
            return fake.get_account(account)
        if method == "GET" and path == "/order-history":
            return fake.get_order_history(account, query)
        if method == "GET" and path == "/trade-history":
            return fake.get_trade_history(account, query)
        if method == "GET" and path == "/positions":
            return fake.get_positions(account)
        if path == "/orders":
            if method == "POST":
                return fake.post_order(account, body, fault)
            if method == "GET":
                return fake.get_open_orders(account)
        if path.startswith("/orders/"):
            order_id = path[len("/orders/"):]
            if method == "GET":
                return fake.get_order(account, order_id)
            if method == "DELETE":
                return fake.delete_order(account, order_id)
        raise _error("NOT_IMPLEMENTED", 404)

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(payload, separators=(",", ":")).encode(), headers=headers)


def serve(fake: FakeAevo | None = None, port: int = 0) -> LocalServer:
    """Start a fake Aevo on 127.0.0.1 (``port`` 0 picks a free one); stop it with ``.stop()``."""
    return LocalServer(FakeAevoHandler, state=fake or FakeAevo(), port=port).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gps_venue_aevo.testing.fake_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--testnet", action="store_true", help="sign-check orders in the testnet domain")
    args = parser.parse_args(argv)
    fake = FakeAevo(testnet=args.testnet)
    env = fake.create_account()
    server = serve(fake, args.port)
    print(f"fake Aevo listening on {server.url} (throwaway keys below; Ctrl-C to stop)")
    print(f"export AEVO_BASE_URL={server.url}")
    if args.testnet:
        print("export AEVO_TESTNET=1")
    for name, value in env.items():
        print(f"export {name}={value}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
