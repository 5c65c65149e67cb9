"""Access-token verification shared by the gateway and every service.

Tokens are JWTs signed by the customers service with an asymmetric key (``kid`` in the
header); verifiers find the public key in the customers JWKS. See ``verifier`` for the
checks and ``dependencies`` for the FastAPI side.
"""

from emporium.kit.auth.keys import JWKSFetchError, KeySource, RemoteJWKS, StaticJWKS
from emporium.kit.auth.principal import Principal, Role
from emporium.kit.auth.verifier import ALLOWED_ALGORITHMS, Denylist, TokenVerifier

__all__ = [
    "ALLOWED_ALGORITHMS",
    "Denylist",
    "JWKSFetchError",
    "KeySource",
    "Principal",
    "RemoteJWKS",
    "Role",
    "StaticJWKS",
    "TokenVerifier",
]
