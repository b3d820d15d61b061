"""A fake Deribit API v2 on 127.0.0.1 for tests, benchmarks and demos.

It speaks the wire protocol the plugin uses: ``GET /api/v2/<method>?<params>`` and
``POST /api/v2[/<method>]`` with a JSON-RPC body; replies carry the JSON-RPC envelope with
``usIn``/``usOut``/``usDiff``/``testnet``, errors come as JSON-RPC ``error`` bodies (HTTP
400, 401 for auth, 429 for rate limits). State and fault injection live in
:class:`~gps_venue_deribit.testing.fake_exchange.FakeExchange` (``server.state``)::

    with FakeDeribit() as server:
        server.state.faults.inject("drop_after", method="private/buy")
        ...  # DERIBIT_BASE_URL=server.url

Standalone: ``python -m gps_venue_deribit.testing.fake_server --port 8765`` prints its URL and
the credentials it accepts.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

from gps_core.testing.server import LocalServer, QuietHandler

from .. import wire
from .fake_exchange import FakeExchange, RpcError

PREFIX = "/api/v2"
HMAC_SCHEME = "deri-hmac-sha256"
_INTS = {"depth", "timestamp", "valid_until", "count", "offset"}


def _coerce(params: dict) -> dict:
    """Query-string values are text: make numbers and booleans what JSON would have given."""
    out = {}
    for key, value in params.items():
        if value in ("true", "false"):
            out[key] = value == "true"
        elif key in _INTS:
            try:
                out[key] = int(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


class DeribitHandler(QuietHandler):
    """Routes one HTTP request to the exchange, applying any armed faults."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        params = _coerce(dict(parse_qsl(parts.query, keep_blank_values=True)))
        self._signed_part = ("GET", self.path, b"")
        self._handle(self._method_from_path(parts.path), params, None, get=True)

    def do_POST(self) -> None:  # noqa: N802
        body = self.read_body()
        self._signed_part = ("POST", self.path, body)
        try:
            request = wire.loads(body)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._reply(None, error=RpcError(-32700, "Parse error"))
            return
        method = request.get("method") or self._method_from_path(urlsplit(self.path).path)
        params = request.get("params") or {}
        if "id" not in request:
            self._reply(None, error=RpcError(11050, "bad_request", {"reason": "requests need an id"}))
            return
        self._handle(method, params if isinstance(params, dict) else {}, request.get("id"), get=False)

    @staticmethod
    def _method_from_path(path: str) -> str:
        return path[len(PREFIX):].strip("/") if path.startswith(PREFIX) else ""

    # --- dispatch ----------------------------------------------------------------------

    def _handle(self, method: str, params: dict, request_id, *, get: bool) -> None:
        exchange: FakeExchange = self.state
        us_in = exchange.now_ms() * 1000
        exchange.calls[method] += 1
        if method in ("private/buy", "private/sell"):
            with exchange.lock:
                exchange.received[str(params.get("label") or "")] += 1
        faults = {f.kind: f.options for f in exchange.faults.take(method)}
        delay = exchange.faults.latency + float(faults.get("latency", {}).get("seconds", 0))
        if delay:
            time.sleep(delay)
        if "drop_before" in faults:
            self.drop_connection()
            return
        if "http429" in faults:
            retry_after = faults["http429"].get("retry_after")
            self.send_bytes(429, b"Too Many Requests", "text/plain",
                            {"Retry-After": str(retry_after)} if retry_after is not None else None)
            return
        if "rate_limit" in faults:
            self._reply(request_id, error=RpcError(10028, "too_many_requests", http_status=429), us_in=us_in)
            return
        if "reject" in faults:
            options = faults["reject"]
            self._reply(request_id, error=RpcError(int(options.get("code", 10009)),
                                                   str(options.get("message", "not_enough_funds"))), us_in=us_in)
            return
        http5xx = faults.get("http5xx")
        if http5xx is not None and not http5xx.get("after"):
            self.send_bytes(int(http5xx.get("status", 502)), b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        if "expire_token" in faults:
            exchange.expire_tokens()
        try:
            result, error = self._dispatch(exchange, method, params, faults.get("partial")), None
        except RpcError as exc:
            result, error = None, exc
        if "drop_after" in faults:
            self.drop_connection()
            return
        if http5xx is not None:
            self.send_bytes(int(http5xx.get("status", 502)), b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        if "garbage" in faults:
            self.send_bytes(200, b'{"jsonrpc":"2.0","result":{"order":', "application/json")
            return
        self._reply(request_id, result=result, error=error, us_in=us_in)

    def _dispatch(self, exchange: FakeExchange, method: str, params: dict, partial: dict | None):
        if method == "public/auth":
            return exchange.auth(params)
        if method == "public/get_time":
            return exchange.now_ms()
        if method == "public/get_instruments":
            currency = str(params.get("currency") or "")
            kind = params.get("kind")
            if kind not in (None, "option"):
                return []
            return [i.row for i in exchange.instruments.values() if currency in ("any", exchange.listing_currency(i))]
        if method == "public/get_instrument":
            if exchange.is_combo(params.get("instrument_name")):
                return exchange.combo_row(params.get("instrument_name"))
            return exchange.instrument(params.get("instrument_name")).row
        if method == "public/get_order_book":
            if exchange.is_combo(params.get("instrument_name")):
                return exchange.combo_ticker(params.get("instrument_name"), int(params.get("depth") or 5))
            return exchange.ticker(params.get("instrument_name"), int(params.get("depth") or 5))
        if method == "public/get_combos":
            return exchange.get_combos(str(params.get("currency") or ""))
        if method == "public/get_combo_ids":
            return exchange.get_combo_ids(str(params.get("currency") or ""))
        if method == "public/get_combo_details":
            return exchange.get_combo_details(params.get("combo_id"))
        if method == "public/get_book_summary_by_currency":
            currency = str(params.get("currency") or "")
            if params.get("kind") not in (None, "option"):
                return []
            return [exchange.book_summary(i.name) for i in list(exchange.instruments.values())
                    if currency in ("any", exchange.listing_currency(i))]
        if method == "public/get_book_summary_by_instrument":
            return [exchange.book_summary(params.get("instrument_name"))]
        if method == "public/ticker":
            return exchange.ticker(params.get("instrument_name"))
        if method == "public/get_index_price":
            name = str(params.get("index_name") or "")
            if name not in exchange.index:
                raise RpcError(-32602, "Invalid params", {"reason": "unknown index", "param": "index_name"})
            return {"index_price": exchange.index[name], "estimated_delivery_price": exchange.index[name]}
        if not method.startswith("private/"):
            raise RpcError(-32601, "Method not found")
        header = self.headers.get("Authorization") or ""
        if header[:len(HMAC_SCHEME) + 1].lower() == f"{HMAC_SCHEME} ":
            exchange.verify_request(header[len(HMAC_SCHEME) + 1:], *self._signed_part)
        else:
            exchange.authorize(self._bearer() or params.get("access_token"))
        if method in ("private/buy", "private/sell"):
            partial = partial or {}
            return exchange.place(method.split("/")[1], params,
                                  *(Decimal(str(partial[k])) if partial.get(k) is not None else None
                                    for k in ("fill", "fraction")))
        if method == "private/create_combo":
            return exchange.create_combo(params)
        if method == "private/get_order_state":
            return exchange.order_state(params.get("order_id"))
        if method == "private/get_order_state_by_label":
            if not params.get("currency"):
                raise RpcError(-32602, "Invalid params", {"reason": "currency is required", "param": "currency"})
            return exchange.by_label(params["currency"], str(params.get("label") or ""))
        if method == "private/cancel":
            return exchange.cancel(params.get("order_id"))
        if method == "private/cancel_by_label":
            return exchange.cancel_by_label(str(params.get("label") or ""), params.get("currency"))
        if method == "private/get_positions":
            if not params.get("currency"):
                raise RpcError(-32602, "Invalid params", {"reason": "currency is required", "param": "currency"})
            return exchange.positions(params["currency"], params.get("kind"))
        if method == "private/get_user_trades_by_order":
            return exchange.user_trades(params.get("order_id"))
        raise RpcError(-32601, "Method not found")

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    def _reply(self, request_id, *, result=None, error: RpcError | None = None, us_in: int | None = None) -> None:
        us_out = self.state.now_ms() * 1000
        us_in = us_in or us_out
        envelope: dict = {"jsonrpc": "2.0"}
        if request_id is not None:
            envelope["id"] = request_id
        if error is not None:
            envelope["error"] = {"message": error.message, "code": error.code}
            if error.data is not None:
                envelope["error"]["data"] = error.data
        else:
            envelope["result"] = result
        envelope.update({"usIn": us_in, "usOut": us_out, "usDiff": us_out - us_in, "testnet": True})
        self.send_bytes(error.http_status if error is not None else 200, wire.dumps(envelope).encode())


class FakeDeribit(LocalServer):
    """The fake server on 127.0.0.1:<free port>; ``state`` is its :class:`FakeExchange`."""

    def __init__(self, exchange: FakeExchange | None = None, port: int = 0):
        super().__init__(DeribitHandler, state=exchange or FakeExchange(), port=port)

    @property
    def state(self) -> FakeExchange:
        return super().state

    def start(self) -> "FakeDeribit":
        # serve_forever's default 0.5 s poll makes every stop() wait up to half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-deribit", daemon=True)
        self._thread.start()
        return self


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gps_venue_deribit.testing.fake_server",
                                     description="Run a fake Deribit API v2 on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--client-id", default=FakeExchange.client_id)
    parser.add_argument("--client-secret", default=FakeExchange.client_secret)
    parser.add_argument("--token-lifetime", type=int, default=FakeExchange.token_lifetime,
                        help="expires_in of issued tokens, seconds")
    args = parser.parse_args(argv)
    exchange = FakeExchange(client_id=args.client_id, client_secret=args.client_secret,
                            token_lifetime=args.token_lifetime)
    server = FakeDeribit(exchange, port=args.port).start()
    print(json.dumps({"url": server.url, "DERIBIT_BASE_URL": server.url, "DERIBIT_CLIENT_ID": args.client_id,
                      "DERIBIT_CLIENT_SECRET": args.client_secret}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
