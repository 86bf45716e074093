"""The registry, and what each platform declares it can do, checked against what its API
client really does: a platform cannot claim a capability its client lacks, nor hide one.

Each probe runs a client against a fake store that answers 404 to everything (or the
platform's own fake, where the probe needs the store to accept) and asks one question:
did the client talk to the store for it?
"""
import contextlib
import json
import pathlib
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import platforms
from platforms import CAPABILITIES, CREDENTIAL_FIELDS, Platform
from platforms.base import Delivery, StatusUpdate, StockUpdate
from platforms.mozello import Mozello
from platforms.testing import ALLOW_LOCAL, FakeShopifyAdmin, FakeStore

DATA = pathlib.Path(__file__).parent / "data"
PRICE = Decimal("12.34")
#: Ids any store takes (some send them as numbers).
SHOPIFY_VARIANT = {"sku": "SKU-1", "id": "11", "product": "10", "item": "12", "price": "10.00", "available": 0}
#: The platform's own fake and credentials, where the store must accept a first request for
#: the client to make the next one (Shopify sends prices once quantities are accepted).
FAKES = {"shopify": (lambda store: FakeShopifyAdmin(store, [SHOPIFY_VARIANT]),
                     {"stock_location": FakeShopifyAdmin.LOCATION})}


def _update(price=None):
    return StockUpdate("SKU-1", Decimal(3), remote_id=SHOPIFY_VARIANT["id"],
                       remote_parent_id=SHOPIFY_VARIANT["product"], price=price,
                       inventory_id=SHOPIFY_VARIANT["item"])


def _set_some_status(client, platform):
    # A store may have no action for some statuses (Mozello cannot cancel): try each.
    for status in platform.order_statuses:
        client.set_order_statuses([StatusUpdate("1001", status.code)])


#: flag -> (client method it needs, how to call it).
PROBES = {
    "can_test_connection": ("test_connection", lambda client, _p: client.test_connection()),
    "can_poll_orders": ("orders_since", lambda client, _p: next(iter(client.orders_since("2026-01-01T00:00:00Z")))),
    "can_sync_stock": ("push_stock", lambda client, _p: client.push_stock([_update()])),
    "can_sync_prices": ("push_stock", lambda client, _p: client.push_stock([_update(PRICE)])),
    "can_reconcile_stock": ("catalog", lambda client, _p: next(iter(client.catalog()))),
    "can_send_status": ("set_order_statuses", _set_some_status),
    "can_list_payment_methods": ("payment_methods", lambda client, _p: client.payment_methods()),
    "can_register_webhook": ("set_notifications", lambda client, _p: client.set_notifications("https://odoo.example/x")),
    "needs_stock_location": ("locations", lambda client, _p: client.locations()),
    "can_list_warehouses": ("warehouses", lambda client, _p: client.warehouses()),
    "can_print_labels": ("package_labels", lambda client, _p: client.package_labels(["1-1"])),
    "can_cancel_with_reason": ("cancel_reasons", lambda client, _p: client.cancel_reasons(["1-1"])),
    "can_read_fees": ("fees", lambda client, _p: next(iter(client.fees(datetime(2026, 1, 1), datetime(2026, 1, 2))))),
    "can_read_payouts": ("payouts", lambda client, _p: client.payouts(date(2026, 1, 1), date(2026, 1, 31))),
}


def implemented(platform: Platform) -> dict[str, bool]:
    """{flag: whether the platform's client really does it}, found by running it."""
    with FakeStore() as store:
        return {flag: _asks_the_store(platform, flag, store) for flag in PROBES}


def _asks_the_store(platform: Platform, flag: str, store: FakeStore) -> bool:
    method, call = PROBES[flag]
    store.routes.clear()
    store.requests.clear()
    fake, own_credentials = FAKES.get(platform.code, (None, {}))
    if fake:
        fake(store)
    credentials = {"store_url": store.url, "api_key": "key", "api_login": "login", "api_secret": "secret",
                   **ALLOW_LOCAL, "webhook_secret": "whsec", "stock_location": "1", "timezone": "Europe/Warsaw",
                   **own_credentials}
    try:
        client = platform.client(credentials)
    except NotImplementedError:
        return False
    if getattr(client, method, None) is None:
        return False
    # A 404 or a refusal still shows that the client asked.
    with contextlib.suppress(Exception):
        call(client, platform)
    if flag == "can_sync_prices":
        return any(str(PRICE).encode() in request.body for request in store.requests)
    return bool(store.requests)


def _example_delivery(platform: Platform) -> Delivery:
    path = min(DATA.glob(f"{platform.code}_order*.json"))
    return platform.parse(path.read_bytes(), "application/json")


ALL = platforms.all_platforms()


@pytest.mark.parametrize("platform", ALL, ids=[p.code for p in ALL])
def test_flags_match_what_the_client_does(platform):
    declared = {flag: getattr(platform, flag) for flag in PROBES}
    assert declared == implemented(platform)


@pytest.mark.parametrize("platform", ALL, ids=[p.code for p in ALL])
def test_status_flags_and_statuses_go_together(platform):
    # Statuses are there for the status mapping, and the mapping needs them.
    assert bool(platform.order_statuses) == (platform.can_send_status or platform.can_read_status)
    if platform.can_read_status:
        # Its deliveries carry one of its statuses (a cancellation is read as such).
        status = _example_delivery(platform).order.status
        assert status in {s.code for s in platform.order_statuses} | {"cancelled"}


@pytest.mark.parametrize("platform", ALL, ids=[p.code for p in ALL])
def test_defaults_and_credentials_are_consistent(platform):
    fields = [credential.field for credential in platform.credentials]
    assert set(fields) <= set(CREDENTIAL_FIELDS)
    assert len(fields) == len(set(fields))
    assert all(credential.label and credential.help for credential in platform.credentials)
    if platform.poll_by_default:
        assert platform.can_poll_orders
    if platform.default_timezone:
        ZoneInfo(platform.default_timezone)
        assert "store_timezone" in fields
    if platform.needs_stock_location:
        assert "store_location" in fields
    if platform.can_test_connection:
        # Calling the API needs something the merchant pastes.
        assert any(credential.required for credential in platform.credentials)


def test_every_capability_is_probed():
    """A new flag needs a way to check it (can_read_status: see the status test)."""
    assert set(CAPABILITIES) - {"can_read_status"} <= set(PROBES)
    assert all(isinstance(getattr(Platform, flag), bool) and getattr(Platform, flag) is False
               for flag in CAPABILITIES)


def test_a_platform_claiming_what_its_client_lacks_is_caught():
    class Boastful(Mozello):
        code = "boastful"
        can_list_payment_methods = True
        can_sync_prices = True
        can_register_webhook = False

    found = implemented(Boastful())
    assert found["can_list_payment_methods"] is False
    assert found["can_sync_prices"] is True
    assert found["can_register_webhook"] is True
    assert {flag: getattr(Boastful, flag) for flag in PROBES} != found


def test_supporting_reads_the_declarations():
    assert platforms.supporting("can_sync_stock") == ("shopify", "woocommerce", "mozello", "idosell", "ozon")
    assert platforms.supporting("can_poll_orders") == ("shopify", "woocommerce", "mozello", "idosell", "ozon")
    assert platforms.supporting("can_register_webhook") == ("mozello",)
    assert platforms.supporting("can_list_payment_methods") == ("woocommerce",)
    assert platforms.supporting("needs_stock_location") == ("shopify",)
    with pytest.raises(AttributeError):
        platforms.supporting("can_fly")


def test_the_base_platform_has_no_client():
    with pytest.raises(NotImplementedError):
        platforms.get("connect").client({})


class Marketplace(Platform):
    """What another addon's platform looks like: a code, a label, its flags and credentials,
    ``verify``/``parse`` and a client (here none)."""

    code = "test_marketplace"
    label = "Test Marketplace"
    credentials = (platforms.Credential("api_secret", "Seller Token", "The marketplace's seller token.", True),)

    def verify(self, headers, body, credentials):
        if headers.get("X-Token") != credentials.get("api_secret"):
            raise platforms.AuthenticationError("wrong token")

    def parse(self, body, content_type="application/json"):
        data = json.loads(body)
        return Delivery(external_id=str(data["id"]))


def test_another_addon_can_register_a_platform():
    platform = platforms.register(Marketplace())
    try:
        assert platforms.get("test_marketplace") is platform
        assert platforms.all_platforms()[-1] is platform
        assert "test_marketplace" not in platforms.supporting("can_poll_orders")
        with pytest.raises(ValueError):
            platforms.register(Marketplace())
    finally:
        platforms.unregister("test_marketplace")
    assert "test_marketplace" not in [p.code for p in platforms.all_platforms()]
