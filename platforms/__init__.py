"""Platform modules: plain Python, no Odoo import.

Each module gives one :class:`~.base.Platform`; adding a platform means adding a module and
registering it here.
"""
from .base import (  # noqa: F401
    AuthenticationError,
    Delivery,
    IgnoredEvent,
    FieldError,
    InvalidPayload,
    NormalizedOrder,
    PayloadTooLarge,
    Platform,
    PlatformError,
)
from .connect import Connect
from .idosell import IdoSell
from .mozello import Mozello
from .paypal import PayPal
from .shopify import Shopify
from .woocommerce import WooCommerce

_REGISTRY: dict[str, Platform] = {
    platform.code: platform for platform in (Connect(), Shopify(), WooCommerce(), Mozello(), PayPal(), IdoSell())
}


def get(code: str) -> Platform:
    """The platform for a channel's ``platform`` code; KeyError if there is none."""
    return _REGISTRY[code]


def codes() -> list[str]:
    return list(_REGISTRY)
