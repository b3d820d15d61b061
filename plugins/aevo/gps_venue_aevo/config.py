"""Where Aevo lives and which credentials it needs. Standard library only (imported at start-up)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

VENUE = "aevo"

MAINNET_URL = "https://api.aevo.xyz"
TESTNET_URL = "https://api-testnet.aevo.xyz"

#: The API key pair signs every private REST call (HMAC); the signing key signs orders
#: (EIP-712) on behalf of the wallet, which is the order's ``maker``.
API_KEY = "AEVO_API_KEY"
API_SECRET = "AEVO_API_SECRET"
SIGNING_KEY = "AEVO_SIGNING_KEY"
WALLET_ADDRESS = "AEVO_WALLET_ADDRESS"
CREDENTIAL_ENV = (API_KEY, API_SECRET, SIGNING_KEY, WALLET_ADDRESS)

#: Not credentials: read from the process environment when the client is created.
TESTNET_ENV = "AEVO_TESTNET"
BASE_URL_ENV = "AEVO_BASE_URL"


@dataclass(frozen=True)
class SigningDomain:
    """The EIP-712 domain orders are signed in (no verifyingContract, no salt)."""

    name: str
    version: str
    chain_id: int

    def as_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "chainId": self.chain_id}


# chainId is Ethereum L1 / Sepolia, not Aevo's own L2 chain id.
MAINNET_DOMAIN = SigningDomain("Aevo Mainnet", "1", 1)
TESTNET_DOMAIN = SigningDomain("Aevo Testnet", "1", 11155111)


@dataclass(frozen=True)
class Settings:
    """Mainnet or testnet: the REST base URL and the matching signing domain."""

    base_url: str
    testnet: bool
    domain: SigningDomain
    read_timeout: float = 10.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """``AEVO_TESTNET=1`` picks testnet (URL and domain); ``AEVO_BASE_URL`` overrides the URL only.

        ``AEVO_READ_TIMEOUT`` (seconds, default 10) bounds the wait for a reply.
        """
        env = os.environ if environ is None else environ
        testnet = env.get(TESTNET_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        default = TESTNET_URL if testnet else MAINNET_URL
        base_url = (env.get(BASE_URL_ENV) or default).strip().rstrip("/")
        from gps_core.api import seconds_from_env

        return cls(base_url, testnet, TESTNET_DOMAIN if testnet else MAINNET_DOMAIN,
                   seconds_from_env(env, "AEVO_READ_TIMEOUT", cls.read_timeout))
