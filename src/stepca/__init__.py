"""stepca: a private certificate authority compatible with smallstep's step-ca and step CLI."""

__version__ = "0.1.0"
# The API version string reported by GET /version: the step-ca release whose API we speak.
API_COMPAT_VERSION = "0.19.0"

__all__ = ["API_COMPAT_VERSION", "__version__"]
