"""Platform modules: plain Python, no Odoo import.

Each module gives one :class:`~.base.Platform`; adding a platform means adding a module and
registering it here (see "Adding a platform" in ``readme/PLATFORMS.rst``). What a platform
can do is read from its declarations (``supporting``), never from its code name.
"""
from .base import (  # noqa: F401
    CAPABILITIES,
    CREDENTIAL_FIELDS,
    AuthenticationError,
    Credential,
    Delivery,
    IgnoredEvent,
    FieldError,
    InvalidPayload,
    NormalizedOrder,
    Platform,
    PlatformError,
)
from .connect import Connect
from .idosell import IdoSell
from .mozello import Mozello
from .ozon import Ozon
from .paypal import PayPal
from .shopify import Shopify
from .woocommerce import WooCommerce

#: Every platform, in the order the channel form lists them.
_REGISTRY: dict[str, Platform] = {
    platform.code: platform
    for platform in (Connect(), Shopify(), WooCommerce(), Mozello(), PayPal(), IdoSell(), Ozon())
}


def get(code: str) -> Platform:
    """The platform for a channel's ``platform`` code; KeyError if there is none."""
    return _REGISTRY[code]


def all_platforms() -> tuple[Platform, ...]:
    return tuple(_REGISTRY.values())


def supporting(flag: str) -> tuple[str, ...]:
    """The codes of the platforms whose ``flag`` (e.g. ``can_sync_stock``) is true."""
    if not hasattr(Platform, flag):
        raise AttributeError(f"platforms declare no {flag!r}")
    return tuple(code for code, platform in _REGISTRY.items() if getattr(platform, flag))


def register(platform: Platform) -> Platform:
    """Add a platform from another addon (at its import): its code becomes a channel's
    platform, with everything its flags turn on. A code is registered once."""
    if not platform.code or platform.code in _REGISTRY:
        raise ValueError(f"platform code {platform.code!r} is empty or taken")
    _REGISTRY[platform.code] = platform
    return platform


def unregister(code: str) -> None:
    """Remove a platform ``register`` added (tests; channels of that code must be gone)."""
    _REGISTRY.pop(code, None)
