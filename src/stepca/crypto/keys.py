"""Private and public key files: generation, loading (PEM, PKCS#8, legacy encrypted PEM, OpenSSH)
and writing in the formats smallstep's step reads and writes."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)

_KINDS: dict[type, str] = {}
_KIND_CLASSES: tuple[tuple[str, type], ...] = (
    ("ec", ec.EllipticCurvePublicKey),
    ("rsa", rsa.RSAPublicKey),
    ("ed25519", ed25519.Ed25519PublicKey),
    ("ec private", ec.EllipticCurvePrivateKey),
    ("rsa private", rsa.RSAPrivateKey),
    ("ed25519 private", ed25519.Ed25519PrivateKey),
)


def key_kind(key: object) -> str:
    """``"ec"``, ``"rsa"`` or ``"ed25519"`` for one of cryptography's public keys, the same with
    ``" private"`` for its private keys, else ``""``. After a type's first call, one dict
    lookup: ``isinstance`` against cryptography's key ABCs runs a Python frame
    (``ABCMeta.__instancecheck__``) each time, and the request path asks several times per
    certificate."""
    cls = type(key)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = next((name for name, abc in _KIND_CLASSES if isinstance(key, abc)), "")
        _KINDS[cls] = kind
    return kind


CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
MIN_RSA_BITS = 2048


class WrongPasswordError(ValueError):
    """The key is encrypted and the password does not open it."""


class KeySpecError(ValueError):
    """An unsupported --kty/--crv/--size combination."""


def check_key_spec(kty: str = "EC", crv: str | None = None, size: int | None = None) -> str:
    """Validate a --kty/--crv/--size combination without generating anything.

    Returns the normalized key type (EC, OKP or RSA); raises KeySpecError with a one-line reason.
    """
    kty_u = (kty or "EC").upper()
    if kty_u == "EC":
        curve = crv or "P-256"
        if curve not in CURVES:
            raise KeySpecError(f"invalid value '{curve}' for flag '--crv'; options are P-256, P-384 or P-521")
        if size:
            raise KeySpecError("flag '--size' is incompatible with '--kty EC'")
    elif kty_u == "OKP":
        if crv not in (None, "Ed25519"):
            raise KeySpecError(f"invalid value '{crv}' for flag '--crv'; option is Ed25519")
        if size:
            raise KeySpecError("flag '--size' is incompatible with '--kty OKP'")
    elif kty_u == "RSA":
        if crv:
            raise KeySpecError("flag '--crv' is incompatible with '--kty RSA'")
        if size is not None and size < MIN_RSA_BITS:
            raise KeySpecError(f"flag '--size' must be at least {MIN_RSA_BITS} for RSA keys")
    else:
        raise KeySpecError(f"invalid value '{kty}' for flag '--kty'; options are EC, OKP or RSA")
    return kty_u


def generate_private_key(kty: str = "EC", crv: str | None = None, size: int | None = None) -> PrivateKey:
    """Generate a key like ``step``: EC P-256 by default, OKP Ed25519, or RSA (2048 bits default)."""
    kty_u = check_key_spec(kty, crv, size)
    if kty_u == "EC":
        return ec.generate_private_key(CURVES[crv or "P-256"]())
    if kty_u == "OKP":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=size or 2048)


def load_private_key(data: bytes, password: bytes | None = None, *, name: str = "key") -> PrivateKey:
    """Load a PEM (SEC1, PKCS#1, PKCS#8, legacy ``Proc-Type`` encrypted), DER or OpenSSH private key.

    An unencrypted key loads whatever ``password`` is. Raises WrongPasswordError when the key is
    encrypted and ``password`` does not open it (or is missing), ValueError with a one-line message
    when the data is not a private key.
    """
    loader: Callable[[bytes | None], object]
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        loader = lambda pw: serialization.load_ssh_private_key(data, pw)  # noqa: E731
    elif b"-----BEGIN" in data:
        loader = lambda pw: serialization.load_pem_private_key(data, pw)  # noqa: E731
    else:
        loader = lambda pw: serialization.load_der_private_key(data, pw)  # noqa: E731
    try:
        try:
            key = loader(None)
        except TypeError:
            # cryptography: "Password was not given but private key is encrypted"
            if not password:
                raise WrongPasswordError(f"{name} is encrypted: a password is required") from None
            try:
                key = loader(password)
            except (ValueError, TypeError):
                raise WrongPasswordError(f"error decrypting {name}: wrong password") from None
    except WrongPasswordError:
        raise
    except ValueError:
        raise ValueError(f"{name} is not a valid private key") from None
    except UnsupportedAlgorithm:
        raise ValueError(f"{name} uses an unsupported key algorithm") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{name}: unsupported key type {type(key).__name__}")
    return key


def is_encrypted_key(data: bytes) -> bool:
    """Whether a private key file needs a password (PEM, DER or OpenSSH)."""
    try:
        load_private_key(data, None)
    except WrongPasswordError:
        return True
    except ValueError:
        return False
    return False


def private_key_to_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """Serialize a private key.

    Encrypted: PKCS#8 ``ENCRYPTED PRIVATE KEY`` (PBES2, AES-256-CBC), which both smallstep's step
    and ``openssl pkey -passin`` open. Unencrypted: SEC1 ``EC PRIVATE KEY`` / PKCS#1
    ``RSA PRIVATE KEY`` as step writes leaf keys, PKCS#8 for Ed25519.
    """
    if password:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    fmt = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def public_key_to_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: bytes, *, name: str = "public key") -> PublicKey:
    """Load a PEM/DER SubjectPublicKeyInfo or an OpenSSH public key line."""
    key: object
    try:
        if data.lstrip().startswith((b"ssh-", b"ecdsa-")):
            key = serialization.load_ssh_public_key(data.strip())
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{name} is not a valid public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ValueError(f"{name}: unsupported key type")
    return key


def signature_hash(key: PrivateKey | PublicKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """The hash step uses when signing certificates with ``key`` (None for Ed25519)."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        size = key.curve.key_size
        if size == 384:
            return hashes.SHA384()
        if size == 521:
            return hashes.SHA512()
        return hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return hashes.SHA256()
    return None


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data`` as an X.509 signature with ``key`` (ECDSA or RSA PKCS#1 v1.5 with
    ``signature_hash``, or Ed25519): for structures assembled as DER (a CRL's TBSCertList)."""
    algorithm = signature_hash(key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and algorithm is not None:
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey) and algorithm is not None:
        return key.sign(data, padding.PKCS1v15(), algorithm)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise TypeError(f"unsupported signing key {type(key).__name__}")


def describe_key(key: PrivateKey | PublicKey) -> str:
    """Short description like step prints: 'ECDSA P-256', 'RSA 2048', 'Ed25519'."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"ECDSA {CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return "Ed25519"


def public_keys_equal(a: PublicKey, b: PublicKey) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(serialization.Encoding.DER, fmt) == b.public_bytes(serialization.Encoding.DER, fmt)
