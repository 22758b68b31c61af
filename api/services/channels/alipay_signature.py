"""Alipay OpenAPI RSA2 signatures: signing our requests, checking Alipay's answers.

Requests: every non-empty parameter except ``sign`` is sorted by name and joined as
``k=v&k=v`` (raw values, not URL-encoded); the UTF-8 bytes are signed with SHA256withRSA
(PKCS#1 v1.5) under the app's private key and sent base64-encoded as ``sign``.

Answers: Alipay signs the *exact text* of the response node (the JSON object under
``alipay_system_oauth_token_response`` or ``error_response``) with its own key and puts the
signature beside it, ``{"<node>": {...}, "sign": "..."}``. Re-serialising the parsed node
would change spacing or escaping and break the check, so :func:`response_node_text` cuts the
node out of the raw body instead. Alipay's own SDK retries the check with ``\\/`` unescaped
to ``/``, because some answers escape slashes after signing; so does :func:`verify_rsa2`'s
caller.

Keys may be given as PEM or as the bare base64 that Alipay's key tool and console produce
(PKCS#8 or PKCS#1 for the private key, SubjectPublicKeyInfo or PKCS#1 for public keys).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "load_private_key",
    "load_public_key",
    "response_node_text",
    "sign_rsa2",
    "signing_content",
    "verify_rsa2",
]


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """Load the app's RSA private key from PEM or bare base64 DER; ``ValueError`` if not."""
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = serialization.load_der_private_key(_bare_base64(text), password=None)
    except (ValueError, TypeError, binascii.Error) as error:
        raise ValueError("the Alipay app private key cannot be read") from error
    # ValueError, like every other bad key, so the wiring has one error to catch.
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Alipay app private key is not an RSA key")  # noqa: TRY004
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Load Alipay's RSA public key from PEM or bare base64 DER; ``ValueError`` if not."""
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(_bare_base64(text))
    except (ValueError, TypeError, binascii.Error) as error:
        raise ValueError("the Alipay public key cannot be read") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Alipay public key is not an RSA key")  # noqa: TRY004
    return key


def signing_content(params: Mapping[str, str]) -> str:
    """The string Alipay expects signed: sorted ``k=v`` pairs, empty values and ``sign`` out."""
    return "&".join(
        f"{name}={value}" for name, value in sorted(params.items()) if name != "sign" and value
    )


def sign_rsa2(content: str, key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA signature of ``content`` (UTF-8), base64-encoded."""
    signature = key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_rsa2(content: str, signature: str, key: rsa.RSAPublicKey) -> bool:
    """Whether ``signature`` (base64) is a valid SHA256withRSA signature of ``content``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def response_node_text(raw: str, node: str) -> str | None:
    """The exact source text of top-level member ``node`` of the JSON object ``raw``.

    Walks the top level with the standard decoder, so braces or quotes inside strings
    cannot fool it. Returns ``None`` when ``raw`` is not an object or lacks ``node``.
    """
    decoder = json.JSONDecoder()
    position = _skip_space(raw, 0)
    if not raw.startswith("{", position):
        return None
    position = _skip_space(raw, position + 1)
    try:
        while position < len(raw) and raw[position] != "}":
            name, position = decoder.raw_decode(raw, position)
            position = _skip_space(raw, position)
            if not isinstance(name, str) or not raw.startswith(":", position):
                return None
            start = _skip_space(raw, position + 1)
            _, end = decoder.raw_decode(raw, start)
            if name == node:
                return raw[start:end]
            position = _skip_space(raw, end)
            if raw.startswith(",", position):
                position = _skip_space(raw, position + 1)
            elif not raw.startswith("}", position):
                return None
    except json.JSONDecodeError:
        return None
    return None


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _bare_base64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)
