"""Combo books for the fake Deribit: ``private/create_combo``, ``public/get_combos`` /
``get_combo_ids`` / ``get_combo_details``, a book per combo, and orders on it whose fills are
trades on every leg.

Facts it follows (Deribit's API reference and support pages, and public testnet captures of
combo rows and trades): ``create_combo {trades: [{instrument_name, amount, direction}]}``
returns the existing combo for the structure or creates one, ``{id, instrument_id, state,
state_timestamp, creation_timestamp, legs: [{instrument_name, amount (signed ratio)}]}``; a
combo is traded like an instrument with ``private/buy``/``sell`` at a net premium; an option
combo row has ``kind: option_combo``, tick 0.0001, the legs' minimum amount and zero
commissions; one combo trade is reported as one trade per leg (``combo_id``,
``combo_trade_id``) whose prices sum, with the ratios, to the combo's price; buy legs and sell
legs are grouped and the cheaper group's fees are waived.

The fake's own choices (not documented): names use the documented codes ``CS``/``PS``
(``BTC-CS-19MAY26-70000_75000``: +1 lower-strike call, -1 higher) and ``REV``; any other
structure is named ``<ROOT>-CMB-<EXPIRY>-<instrument id>``. A combo's book is quoted by a
market maker around the legs' implied prices, ``spread_factor`` times as wide as legging it
(default 0.5; ``set_combo_book`` replaces it, e.g. with an empty book so an order rests).
Combo orders are matched only against the combo's own book, never the legs' books (as testnet
was reported to behave). Leg prices of a fill are the legs' marks with the difference put on
the first leg.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from . import fake_exchange as _fx  # attributes read at call time: fake_exchange imports this module
from .fake_chain import TICK

COMBO_TICK = Decimal("0.0001")
LEG_PRICE_STEP = Decimal("0.00000001")
STRUCTURE_CODES = {("C", "C"): "CS", ("P", "P"): "PS"}


class ComboBooks:
    """Mixed into :class:`~gps_venue_deribit.testing.fake_exchange.FakeExchange` (uses its lock, ids and books)."""

    spread_factor = Decimal("0.5")

    def _combo_state(self) -> None:
        if not hasattr(self, "combos"):
            self.combos: dict[str, dict] = {}
            self.combo_rows: dict[str, dict] = {}
            self.combo_books: dict[str, dict[str, list]] = {}
            self._combo_ids = itertools.count(584600)

    # --- Python API for tests ------------------------------------------------------------

    def set_combo_book(self, combo_id: str, bids: list | None = None, asks: list | None = None) -> None:
        """Replace a combo's book (``[[price, amount], ...]`` best first; empty lists: no quotes)."""
        with self.lock:
            self._combo_state()
            self.combo_books[combo_id] = {"bids": [list(x) for x in bids or []], "asks": [list(x) for x in asks or []]}

    def single_leg_orders(self) -> list[dict]:
        """Orders placed on option books (not on a combo): the book of record for "nothing legged"."""
        with self.lock:
            self._combo_state()
            return [dict(o) for o in self.orders.values() if o["instrument_name"] not in self.combos]

    def combo_orders(self) -> list[dict]:
        with self.lock:
            self._combo_state()
            return [dict(o) for o in self.orders.values() if o["instrument_name"] in self.combos]

    def is_combo(self, name) -> bool:
        with self.lock:
            self._combo_state()
            return str(name) in self.combos

    # --- public ----------------------------------------------------------------------------

    def get_combos(self, currency: str) -> list[dict]:
        with self.lock:
            self._combo_state()
            return [dict(c) for c in self.combos.values() if self.combo_rows[c["id"]]["base_currency"] == currency
                    or self.combo_rows[c["id"]]["settlement_currency"] == currency]

    def get_combo_ids(self, currency: str) -> list[str]:
        return [c["id"] for c in self.get_combos(currency)]

    def get_combo_details(self, combo_id) -> dict:
        with self.lock:
            self._combo_state()
            combo = self.combos.get(str(combo_id))
            if combo is None:
                raise _fx.RpcError(-32602, "Invalid params", {"reason": "combo not found", "param": "combo_id"})
            return dict(combo)

    def combo_row(self, name) -> dict:
        with self.lock:
            self._combo_state()
            return dict(self.combo_rows[str(name)])

    def combo_ticker(self, name, depth: int | None = None) -> dict:
        with self.lock:
            combo, book = self.combos[str(name)], self.combo_books[str(name)]
            first = self.instruments[combo["legs"][0]["instrument_name"]]
            index = self.index_of(first)
            bids, asks = book["bids"], book["asks"]
            result = {
                "timestamp": self.now_ms(), "state": "open", "instrument_name": combo["id"], "index_price": index,
                "underlying_price": index, "underlying_index": "index_price", "mark_price": self._combo_mark(combo),
                "best_bid_price": bids[0][0] if bids else 0, "best_bid_amount": bids[0][1] if bids else 0,
                "best_ask_price": asks[0][0] if asks else 0, "best_ask_amount": asks[0][1] if asks else 0,
                "stats": {"volume": 0, "price_change": None, "low": None, "high": None},
            }
            if depth is not None:
                result["bids"] = [list(x) for x in bids[:depth]]
                result["asks"] = [list(x) for x in asks[:depth]]
                result["change_id"] = next(self._trade_ids)
            return result

    # --- private ---------------------------------------------------------------------------

    def create_combo(self, params: dict) -> dict:
        """``private/create_combo``: the existing combo for the structure (either direction) or a new one."""
        trades = params.get("trades")
        if isinstance(trades, str):
            from .. import wire

            trades = wire.loads(trades)
        if not isinstance(trades, list) or not 2 <= len(trades) <= 4:
            raise _fx.RpcError(-32602, "Invalid params", {"reason": "2 to 4 trades", "param": "trades"})
        with self.lock:
            self._combo_state()
            legs = []
            for trade in trades:
                if not isinstance(trade, dict) or trade.get("direction") not in ("buy", "sell"):
                    raise _fx.RpcError(-32602, "Invalid params", {"reason": "bad trade", "param": "trades"})
                inst = self.instrument(trade.get("instrument_name"))
                amount = _fx._decimal(trade, "amount")
                if amount <= 0 or amount != amount.to_integral_value():
                    raise _fx.RpcError(-32602, "Invalid params", {"reason": "ratios are whole", "param": "amount"})
                legs.append({"instrument_name": inst.name,
                             "amount": int(amount) * (1 if trade["direction"] == "buy" else -1)})
            currencies = {self.listing_currency(self.instruments[leg["instrument_name"]]) for leg in legs}
            if len(currencies) != 1 or len({leg["instrument_name"] for leg in legs}) != len(legs):
                raise _fx.RpcError(-32602, "Invalid params", {"reason": "legs must differ and share a currency"})
            wanted = sorted((leg["instrument_name"], leg["amount"]) for leg in legs)
            for combo in self.combos.values():
                mine = sorted((leg["instrument_name"], leg["amount"]) for leg in combo["legs"])
                if mine == wanted or mine == sorted((n, -a) for n, a in wanted):
                    return dict(combo)
            return dict(self._new_combo(legs))

    def _new_combo(self, legs: list[dict]) -> dict:
        number = next(self._combo_ids)
        first = self.instruments[legs[0]["instrument_name"]]
        name = self._combo_name(legs, number)
        now = self.now_ms()
        combo = {"id": name, "instrument_id": number, "state": "active", "state_timestamp": now,
                 "creation_timestamp": now, "legs": legs}
        row = first.row
        self.combos[name] = combo
        self.combo_rows[name] = {
            "state": "open", "price_index": row["price_index"], "kind": "option_combo", "instrument_name": name,
            "maker_commission": Decimal(0), "taker_commission": Decimal(0), "instrument_type": row["instrument_type"],
            "expiration_timestamp": min(self.instruments[x["instrument_name"]].row["expiration_timestamp"]
                                        for x in legs),
            "is_active": True, "creation_timestamp": now, "instrument_id": number, "tick_size": COMBO_TICK,
            "contract_size": row["contract_size"], "base_currency": row["base_currency"],
            "quote_currency": row["quote_currency"], "settlement_currency": row["settlement_currency"],
            "min_trade_amount": row["min_trade_amount"], "settlement_period": row.get("settlement_period", "month"),
            "counter_currency": row.get("counter_currency", "USD"), "tick_size_steps": [],
        }
        self.combo_books[name] = self._implied_book(legs)
        return combo

    def _combo_name(self, legs: list[dict], number: int) -> str:
        parts = [self.instruments[leg["instrument_name"]].name.split("-") for leg in legs]
        root, expiries = parts[0][0], {p[1] for p in parts}
        if len(legs) == 2 and len(expiries) == 1 and sorted(leg["amount"] for leg in legs) == [-1, 1]:
            (a, b) = sorted(zip(parts, (leg["amount"] for leg in legs)), key=lambda x: Decimal(x[0][2].replace("d", ".")))
            kinds = (a[0][3], b[0][3])
            code = STRUCTURE_CODES.get(kinds)
            # CS: +1 lower strike call, -1 higher; PS: +1 higher strike put, -1 lower (the documented shape).
            if code == "CS" and a[1] == 1:
                return f"{root}-CS-{a[0][1]}-{a[0][2]}_{b[0][2]}"
            if code == "PS" and b[1] == 1:
                return f"{root}-PS-{a[0][1]}-{a[0][2]}_{b[0][2]}"
            if a[0][2] == b[0][2] and {a[0][3], b[0][3]} == {"C", "P"}:
                call = a if a[0][3] == "C" else b
                if call[1] == 1:
                    return f"{root}-REV-{a[0][1]}-{a[0][2]}"
        return f"{root}-CMB-{sorted(expiries)[0]}-{number}"

    def _combo_mark(self, combo: dict) -> Decimal:
        return sum((leg["amount"] * self.instruments[leg["instrument_name"]].mark for leg in combo["legs"]),
                   Decimal(0))

    def _implied_book(self, legs: list[dict]) -> dict[str, list]:
        """One combo level a side around the legs' implied prices, ``spread_factor`` as wide as legging it."""
        ask, bid, size = Decimal(0), Decimal(0), None
        for leg in legs:
            inst, ratio = self.instruments[leg["instrument_name"]], leg["amount"]
            if not inst.bids or not inst.asks:
                return {"bids": [], "asks": []}
            take_buy, take_sell = (inst.asks[0], inst.bids[0]) if ratio > 0 else (inst.bids[0], inst.asks[0])
            ask += ratio * take_buy[0]
            bid += ratio * take_sell[0]
            room = min(take_buy[1], take_sell[1]) / abs(ratio)
            size = room if size is None else min(size, room)
        mid, half = (ask + bid) / 2, (ask - bid) / 2 * self.spread_factor
        best_ask = ((mid + half) / COMBO_TICK).to_integral_value(rounding=ROUND_CEILING) * COMBO_TICK
        best_bid = ((mid - half) / COMBO_TICK).to_integral_value(rounding=ROUND_FLOOR) * COMBO_TICK
        if best_ask <= best_bid:
            best_ask = best_bid + COMBO_TICK
        return {"bids": [[best_bid, size]] if best_bid > 0 else [], "asks": [[best_ask, size]] if best_ask > 0 else []}

    def place_combo(self, side: str, params: dict, partial_fill: Decimal | None = None,
                    partial_fraction: Decimal | None = None) -> dict:
        """``private/buy``/``sell`` on a combo id: validate, match against the combo's own book only.

        ``partial_fill``/``partial_fraction`` (the ``partial`` fault) cap what fills at once, as for
        a single-leg order; the rest rests (or is cancelled, IOC)."""
        with self.lock:
            name = str(params.get("instrument_name"))
            row, combo = self.combo_rows[name], self.combos[name]
            amount, price = _fx._decimal(params, "amount"), _fx._decimal(params, "price")
            label = str(params.get("label") or "")
            tif = params.get("time_in_force") or "good_til_cancelled"
            if len(label) > 64:
                raise _fx.RpcError(-32602, "Invalid params", {"reason": "label too long", "param": "label"})
            minimum = row["min_trade_amount"]
            if amount < minimum:
                raise _fx.RpcError(10002, "qty_too_low")
            if (amount / minimum) % 1:
                raise _fx.RpcError(10021, "invalid_amount", {"reason": f"must be a multiple of {minimum}", "param": "amount"})
            if (price / COMBO_TICK) % 1:
                raise _fx.RpcError(10043, "price_wrong_tick")
            valid_until = params.get("valid_until")
            if valid_until is not None and self.now_ms() > int(valid_until):
                raise _fx.RpcError(13888, "timed_out")
            book = self.combo_books[name]
            levels = book["asks"] if side == "buy" else book["bids"]
            crosses = bool(levels) and (levels[0][0] <= price if side == "buy" else levels[0][0] >= price)
            if params.get("post_only") in (True, "true") and crosses:
                raise _fx.RpcError(11054, "post_only_reject")
            now = self.now_ms()
            order_id = str(next(self._ids))
            currency = row["settlement_currency"]
            order_id = order_id if currency == "BTC" else f"{currency}-{order_id}"
            order = {
                "order_id": order_id, "order_state": "open", "order_type": "limit", "time_in_force": tif,
                "instrument_name": name, "direction": side, "price": price, "amount": amount, "contracts": amount,
                "filled_amount": Decimal(0), "average_price": Decimal(0), "label": label,
                "post_only": params.get("post_only") in (True, "true"), "reject_post_only": False,
                "reduce_only": params.get("reduce_only") in (True, "true"), "creation_timestamp": now,
                "last_update_timestamp": now, "api": True, "web": False, "mmp": False, "replaced": False,
                "risk_reducing": False, "is_liquidation": False,
            }
            self.orders[order_id] = order
            self.trades[order_id] = []
            self.placed[label] += 1
            trades, cap = [], amount if partial_fill is None else min(amount, partial_fill)
            if partial_fraction is not None:
                cap = min(cap, (amount * partial_fraction / minimum).to_integral_value(rounding=ROUND_FLOOR) * minimum)
            while levels and cap > 0 and (levels[0][0] <= price if side == "buy" else levels[0][0] >= price):
                size = min(levels[0][1], cap)
                trades.extend(self.combo_trade(order, size, levels[0][0], "T"))
                levels[0][1] -= size
                cap -= size
                if levels[0][1] <= 0:
                    levels.pop(0)
            if order["filled_amount"] >= order["amount"]:
                order["order_state"] = "filled"
            if tif in ("immediate_or_cancel", "fill_or_kill") and order["order_state"] == "open":
                order["order_state"], order["cancel_reason"] = "cancelled", "immediate_or_cancel"
            return {"order": dict(order), "trades": [dict(t) for t in trades]}

    def combo_trade(self, order: dict, size: Decimal, price: Decimal, liquidity: str) -> list[dict]:
        """One combo trade: the order's fill and a trade per leg (each leg's position moves with it)."""
        combo = self.combos[order["instrument_name"]]
        filled = order["filled_amount"]
        order["average_price"] = (order["average_price"] * filled + price * size) / (filled + size)
        order["filled_amount"] = filled + size
        order["last_update_timestamp"] = self.now_ms()
        sign = 1 if order["direction"] == "buy" else -1
        legs = combo["legs"]
        marks = [self.instruments[leg["instrument_name"]].mark for leg in legs]
        rest = sum((leg["amount"] * mark for leg, mark in zip(legs[1:], marks[1:])), Decimal(0))
        first = ((price - rest) / legs[0]["amount"]).quantize(LEG_PRICE_STEP)
        prices = [max(first, TICK)] + marks[1:]
        combo_trade_id = f"{next(self._trade_ids)}"
        rows = []
        for leg, leg_price in zip(legs, prices):
            inst = self.instruments[leg["instrument_name"]]
            amount = abs(leg["amount"]) * size
            direction = "buy" if leg["amount"] * sign > 0 else "sell"
            rate = inst.row["maker_commission" if liquidity == "M" else "taker_commission"]
            per_unit = rate * (self.index_of(inst) if inst.row["instrument_type"] == "linear" else 1)
            fee = min(per_unit * amount, _fx.FEE_CAP * leg_price * amount).quantize(LEG_PRICE_STEP)
            currency = self.listing_currency(inst)
            rows.append({
                "trade_id": f"{currency}-{next(self._trade_ids)}", "timestamp": order["last_update_timestamp"],
                "price": leg_price, "amount": amount, "contracts": amount, "direction": direction,
                "liquidity": liquidity, "fee": fee, "fee_currency": currency, "order_id": order["order_id"],
                "label": order["label"], "instrument_name": inst.name, "order_type": "limit", "state": "filled",
                "index_price": self.index_of(inst), "mark_price": inst.mark, "combo_id": combo["id"],
                "combo_trade_id": combo_trade_id,
            })
        # Deribit groups buy legs and sell legs and waives the cheaper group's fees.
        groups = {d: sum((r["fee"] for r in rows if r["direction"] == d), Decimal(0)) for d in ("buy", "sell")}
        if groups["buy"] and groups["sell"]:
            waived = "buy" if groups["buy"] < groups["sell"] else "sell"
            for r in rows:
                if r["direction"] == waived:
                    r["fee"] = Decimal(0)
        self.trades[order["order_id"]].extend(rows)
        return rows
