"""Which Deribit contract an option key means, and where Deribit lists it. No network.

Deribit lists two kinds of options (API v2 reference, "Naming"; support article "Linear USDC
Options"):

* **inverse** ``BTC-25DEC26-95000-C``, ``ETH-...``: priced and settled in the coin, listed
  under ``public/get_instruments currency=BTC|ETH``; index ``btc_usd``/``eth_usd``.
* **linear** ``BTC_USDC-25DEC26-95000-C``, ``SOL_USDC-25DEC26-140-C``,
  ``XRP_USDC-25DEC26-0d625-C``: priced and settled in USDC per coin, listed under
  ``currency=USDC``; index ``btc_usdc``, ``sol_usdc``...

How a key is resolved (:func:`deribit_key`):

* a key with a settlement (``OptionKey.parse("BTC_USDC-25DEC26-95000-C")``) is that contract;
* a plain key on BTC or ETH (``BTC-25DEC26-95000-C``) is the inverse contract, never the
  linear one;
* a plain key on any other coin (``SOL-25DEC26-140-C``) is its linear USDC contract, because
  Deribit lists options on those coins only as linear (``SOL_USDC-25DEC26-140-C``).
"""

from __future__ import annotations

from gps_core.api import OptionKey

#: Coins whose options Deribit lists as inverse (coin-settled) contracts.
INVERSE_CURRENCIES = ("BTC", "ETH")
#: The settlement currency of Deribit's linear options, and the ``currency`` that lists them.
LINEAR_SETTLEMENT = "USDC"
#: Every ``currency`` of ``public/get_instruments`` that lists options gps trades.
LISTING_CURRENCIES = (*INVERSE_CURRENCIES, LINEAR_SETTLEMENT)


def deribit_key(key: OptionKey) -> OptionKey:
    """The key of the contract Deribit trades for ``key`` (see the module docstring).

    ``deribit_key(OptionKey.parse("SOL-25DEC26-140-C")).name == "SOL_USDC-25DEC26-140-C"``;
    ``BTC-25DEC26-95000-C`` stays itself (inverse).
    """
    if key.settlement or key.underlying in INVERSE_CURRENCIES:
        return key
    return key.settled_in(LINEAR_SETTLEMENT)


def is_linear(key: OptionKey) -> bool:
    """Whether ``key`` (as :func:`deribit_key` resolves it) is a linear USDC contract."""
    return deribit_key(key).settlement == LINEAR_SETTLEMENT


def listing_currency(key: OptionKey) -> str:
    """The ``currency`` parameter that lists this contract (``get_instruments``,
    ``get_order_state_by_label``): the coin for inverse, ``USDC`` for linear."""
    resolved = deribit_key(key)
    return resolved.settlement or resolved.underlying


def index_name(key: OptionKey) -> str:
    """Deribit's index for the contract: ``btc_usd`` (inverse) or ``sol_usdc`` (linear)."""
    resolved = deribit_key(key)
    return f"{resolved.underlying.lower()}_{(resolved.settlement or 'usd').lower()}"
