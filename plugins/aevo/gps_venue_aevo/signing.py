"""EIP-712 order signing, reproducing Aevo's backend byte for byte.

The order id Aevo assigns is the EIP-712 digest of the signed order, so it is known before
the order is sent. ``eth_account`` is imported inside the functions that need it: importing
it costs most of a second, and market data never needs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from gps_core.api import InvalidOrder

from .config import SigningDomain

SCALE = 6
ORDER_TYPE = "Order(address maker,bool isBuy,uint256 limitPrice,uint256 amount,uint256 salt,uint256 instrument,uint256 timestamp)"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
UINT256_MAX = 2**256 - 1

_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "Order": [
        {"name": "maker", "type": "address"},
        {"name": "isBuy", "type": "bool"},
        {"name": "limitPrice", "type": "uint256"},
        {"name": "amount", "type": "uint256"},
        {"name": "salt", "type": "uint256"},
        {"name": "instrument", "type": "uint256"},
        {"name": "timestamp", "type": "uint256"},
    ],
}


def scale6(value: Decimal, field: str) -> int:
    """``value × 10^6`` as an exact integer; more than 6 decimals is refused, never rounded."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidOrder(f"{field} {value!r} is not a finite Decimal")
    scaled = value.scaleb(SCALE)
    if scaled != scaled.to_integral_value():
        raise InvalidOrder(f"{field} {value} has more than {SCALE} decimals; Aevo takes at most {SCALE}")
    number = int(scaled)
    if not 0 <= number <= UINT256_MAX:
        raise InvalidOrder(f"{field} {value} is out of range")
    return number


def salt_for(client_order_id: str) -> int:
    """A salt derived from gps's client order id, so every Aevo order can be traced back to gps."""
    return int.from_bytes(hashlib.sha256(client_order_id.encode()).digest(), "big")


@dataclass(frozen=True)
class OrderFields:
    """The signed fields of an Aevo order, as the integers that are signed."""

    maker: str
    is_buy: bool
    limit_price: int
    amount: int
    salt: int
    instrument: int
    timestamp: int

    def message(self) -> dict:
        return {
            "maker": self.maker,
            "isBuy": self.is_buy,
            "limitPrice": self.limit_price,
            "amount": self.amount,
            "salt": self.salt,
            "instrument": self.instrument,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True)
class SignedOrder:
    """An order's id (the EIP-712 digest) and its signature, both ``0x``-prefixed lowercase hex."""

    order_id: str
    signature: str


def signable(fields: OrderFields, domain: SigningDomain):
    """The EIP-712 ``SignableMessage`` (header = domain separator, body = struct hash)."""
    from eth_account.messages import encode_typed_data

    return encode_typed_data(full_message={
        "types": _TYPES,
        "primaryType": "Order",
        "domain": domain.as_dict(),
        "message": fields.message(),
    })


def digest(fields: OrderFields, domain: SigningDomain) -> str:
    """The order id: ``keccak256(0x1901 ‖ domainSeparator ‖ structHash)``."""
    from eth_utils import keccak

    message = signable(fields, domain)
    return "0x" + keccak(b"\x19\x01" + message.header + message.body).hex()


def sign_order(fields: OrderFields, domain: SigningDomain, private_key: str) -> SignedOrder:
    """Sign the raw EIP-712 digest with the signing key; return the id and a 65-byte r‖s‖v signature."""
    from eth_account import Account

    signed = Account.sign_message(signable(fields, domain), private_key)
    order_id = "0x" + bytes(signed.message_hash).hex()
    # hexbytes >= 1.0 drops the 0x that Aevo expects.
    return SignedOrder(order_id, "0x" + bytes(signed.signature).hex())


def address_of(private_key: str) -> str:
    """The checksummed address of a private key (the signing key's public identity)."""
    from eth_account import Account

    return Account.from_key(private_key).address


def checksum(address: str) -> str:
    """EIP-55 checksum form of an address; ``ValueError`` if it is not one."""
    from eth_utils import is_address, to_checksum_address

    if not is_address(address):
        raise ValueError("not an address")
    return to_checksum_address(address)
