"""Every vector Aevo's backend generated (order digests and signatures, domain separators,
type hashes, HMAC signatures) is reproduced exactly by the plugin's code."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_utils import keccak

from gps_core.errors import InvalidOrder
from gps_venue_aevo import auth, signing
from gps_venue_aevo.config import MAINNET_DOMAIN, TESTNET_DOMAIN
from gps_venue_aevo.testing.fake_server import domain_separator, order_struct_hash, recover_signer

DOMAINS = {"mainnet": MAINNET_DOMAIN, "testnet": TESTNET_DOMAIN}


def _fields(vector: dict) -> signing.OrderFields:
    return signing.OrderFields(
        maker=vector["maker"], is_buy=vector["is_buy"], limit_price=int(vector["limit_price"]),
        amount=int(vector["amount"]), salt=int(vector["salt"]), instrument=int(vector["instrument"]),
        timestamp=int(vector["timestamp"]))


def test_type_strings_and_hashes(aevo_vectors):
    eip712 = aevo_vectors["eip712"]
    assert signing.ORDER_TYPE == eip712["order_type_string"]
    assert signing.DOMAIN_TYPE == eip712["domain_type_string"]
    assert "0x" + keccak(text=signing.ORDER_TYPE).hex() == eip712["order_type_hash"]
    assert "0x" + keccak(text=signing.DOMAIN_TYPE).hex() == eip712["domain_type_hash"]


@pytest.mark.parametrize("env", ["mainnet", "testnet"])
def test_domain_separators(aevo_vectors, env):
    spec = aevo_vectors["eip712"]["domains"][env]
    domain = DOMAINS[env]
    assert (domain.name, domain.version, domain.chain_id) == (spec["name"], spec["version"], spec["chainId"])
    assert spec["verifyingContract"] is None
    any_order = signing.OrderFields("0x7D19833b5aF3b4e4D75DBA556ded46930469FA27", True, 1, 1, 1, 1, 1)
    assert "0x" + signing.signable(any_order, domain).header.hex() == spec["domain_separator"]
    # The fake server's independent encoder agrees.
    assert "0x" + domain_separator(domain).hex() == spec["domain_separator"]




def test_all_six_order_vectors_are_reproduced(aevo_vectors):
    keys = aevo_vectors["backend_vectors"]["keys"]
    vectors = aevo_vectors["backend_vectors"]["order_plain"]
    assert len(vectors) == 6
    for vector in vectors:
        domain, fields = DOMAINS[vector["env"]], _fields(vector)
        message = signing.signable(fields, domain)
        assert "0x" + message.body.hex() == vector["struct_hash"], vector["id"]
        assert signing.digest(fields, domain) == vector["digest"], vector["id"]
        signed = signing.sign_order(fields, domain, keys["signing_key"]["private_key"])
        assert signed.order_id == vector["digest"], vector["id"]
        assert signed.signature == vector["signature"], vector["id"]
        assert signed.signature.startswith("0x") and len(signed.signature) == 132
        # The fake server recovers the signing key (not the wallet) from the same vector.
        struct = order_struct_hash(vector["maker"], vector["is_buy"], int(vector["limit_price"]),
                                   int(vector["amount"]), int(vector["salt"]), int(vector["instrument"]),
                                   int(vector["timestamp"]))
        assert "0x" + struct.hex() == vector["struct_hash"]
        assert recover_signer(domain, struct, vector["signature"]) == keys["signing_key"]["address"]


def test_vector_keys_derive_their_addresses(aevo_vectors):
    keys = aevo_vectors["backend_vectors"]["keys"]
    for role in ("wallet", "signing_key"):
        assert signing.address_of(keys[role]["private_key"]) == keys[role]["address"]


def test_all_five_hmac_vectors_are_reproduced(aevo_vectors):
    vectors = aevo_vectors["backend_vectors"]["hmac"]
    assert len(vectors) == 5
    for v in vectors:
        path = auth.signed_path(v["request_target"]) if v["method"] != "ws" else v["request_target"]
        assert path == v["signed_path"], v["id"]
        assert auth.signature(v["key"], v["secret"], v["timestamp"], v["method"], path, v["body"]) == v["signature"], v["id"]


@pytest.mark.parametrize("vid", ["rest_get_with_query", "rest_post_json_body", "rest_delete_no_body"])
def test_rest_headers_match_vectors(aevo_vectors, vid):
    v = next(x for x in aevo_vectors["backend_vectors"]["hmac"] if x["id"] == vid)
    headers = auth.auth_headers(v["key"], v["secret"], v["method"], v["request_target"], v["body"].encode(),
                                     timestamp_ns=int(v["timestamp"]))
    assert headers == {"AEVO-KEY": v["key"], "AEVO-TIMESTAMP": v["timestamp"], "AEVO-SIGNATURE": v["signature"]}


@pytest.mark.parametrize("value, expected", [
    ("1942.123456", 1942123456), ("3.210987", 3210987), ("0.000001", 1), ("0", 0), ("1250.5", 1250500000),
    ("1.500000000", 1500000),
])
def test_scaling_is_exact(value, expected):
    assert signing.scale6(Decimal(value), "price") == expected


@pytest.mark.parametrize("value", ["1.0000015", "0.0000001", "12.3456789"])
def test_more_than_six_decimals_is_refused_not_rounded(value):
    with pytest.raises(InvalidOrder, match="more than 6 decimals"):
        signing.scale6(Decimal(value), "price")


def test_salt_is_derived_from_the_client_order_id():
    a, b = signing.salt_for("gps-x-L1-1"), signing.salt_for("gps-x-L2-1")
    assert a == signing.salt_for("gps-x-L1-1") and a != b
    assert 0 <= a <= signing.UINT256_MAX
