"""Bad input from an authentic store: every platform's parser either reads the delivery into
content the database can store, or says why it cannot (a PlatformError naming the field).
Anything else would be a crash at intake, and an authentic order lost behind a 500."""
import copy
import json
import pathlib
from decimal import Decimal

import pytest

from platforms import Delivery, IgnoredEvent, InvalidPayload, PlatformError, get
from platforms.base import (
    MAX_EXTERNAL_ID,
    read_json,
    storable_text,
    to_decimal,
    unstorable,
)

DATA = pathlib.Path(__file__).parent / "data"
SAMPLES = [
    ("connect", "connect_order.json"),
    ("shopify", "shopify_order.json"),
    ("woocommerce", "woocommerce_order.json"),
    ("mozello", "mozello_order_created.json"),
    ("paypal", "paypal_order_approved.json"),
    ("paypal", "paypal_capture_completed.json"),
    ("idosell", "idosell_order.json"),
]
#: What a store (or a bug in it) may put where a value belongs.
WRONG_VALUES = ["x", [1], {"a": 1}, 7, True, "\u0000", "\ud800", "1e999999", []]


def read(platform, body, content_type="application/json") -> Delivery:
    """Parse and check, as intake does."""
    delivery = get(platform).parse(body, content_type)
    delivery.check()
    return delivery


def paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, path + (index,))


def replaced(data, path, value):
    if not path:
        return value
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize("platform,sample", SAMPLES)
def test_any_value_of_the_wrong_type_is_read_or_refused_never_a_crash(platform, sample):
    data = json.loads((DATA / sample).read_text())
    crashes = []
    for path in paths(data):
        for value in WRONG_VALUES:
            body = json.dumps(replaced(data, path, value)).encode()
            try:
                read(platform, body)
            except PlatformError:
                continue
            except Exception as exc:  # noqa: BLE001 -- collected, reported below
                crashes.append(f"{'.'.join(map(str, path))} = {value!r}: {type(exc).__name__}: {exc}")
    assert not crashes, "\n".join(crashes[:20])


@pytest.mark.parametrize("platform", ["connect", "shopify", "woocommerce", "mozello", "paypal", "idosell"])
@pytest.mark.parametrize("body", [
    b"[" * 50000 + b"]" * 50000,
    b'{"id": ' * 50000 + b"1" + b"}" * 50000,
    b"\xff\xfe not UTF-8",
    b'{"id": "1"}\x00',
    b"",
    b"null",
    b"[]",
    b'"text"',
], ids=["deep-arrays", "deep-objects", "not-utf8", "nul-byte", "empty", "null", "list", "string"])
def test_bodies_that_are_not_an_order(platform, body):
    with pytest.raises((InvalidPayload, IgnoredEvent)):
        read(platform, body)


def test_json_nested_too_deeply_says_so():
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        read_json(b"[" * 50000 + b"]" * 50000)


@pytest.mark.parametrize("text,field", [("\u0000", "customer.name"), ("Anna\ud800", "customer.name")])
def test_text_the_database_cannot_store_is_refused_naming_the_field(text, field):
    data = json.loads((DATA / "shopify_order.json").read_text())
    data["customer"]["first_name"] = text
    with pytest.raises(InvalidPayload) as caught:
        read("shopify", json.dumps(data).encode())
    assert [error.path for error in caught.value.errors] == [field]
    assert unstorable(text) in str(caught.value)


@pytest.mark.parametrize("change,field", [
    ({"line_items": "x"}, "line_items"),
    ({"customer": [1]}, "customer"),
    ({"billing_address": "Riga"}, "billing_address"),
    ({"shipping_lines": [1]}, "shipping_lines[0]"),
    ({"currency": ["EUR"]}, "currency"),
    ({"email": {"a": 1}}, "email"),
    ({"payment_gateway_names": "card"}, "payment_gateway_names"),
])
def test_shopify_wrong_types_name_the_field(change, field):
    data = dict(json.loads((DATA / "shopify_order.json").read_text()), **change)
    with pytest.raises(InvalidPayload) as caught:
        read("shopify", json.dumps(data).encode())
    assert caught.value.errors[0].path == field


@pytest.mark.parametrize("platform,sample,change,field", [
    ("woocommerce", "woocommerce_order.json", {"line_items": "x"}, "line_items"),
    ("woocommerce", "woocommerce_order.json", {"billing": [1]}, "billing"),
    ("mozello", "mozello_order_created.json", {"cart": "x"}, "order.cart"),
    ("mozello", "mozello_order_created.json", {"email": [1]}, "order.email"),
    ("paypal", "paypal_order_approved.json", {"payer": [1]}, "resource.payer"),
    ("paypal", "paypal_order_approved.json", {"purchase_units": "x"}, "resource.purchase_units"),
    ("idosell", "idosell_order.json", {"orderDetails": "x"}, "orderDetails"),
    ("idosell", "idosell_order.json", {"clientResult": [1]}, "clientResult"),
])
def test_wrong_types_name_the_field(platform, sample, change, field):
    data = json.loads((DATA / sample).read_text())
    target = data.get("order") or data.get("resource") or data
    target.update(change)
    with pytest.raises(InvalidPayload) as caught:
        read(platform, json.dumps(data).encode())
    assert caught.value.errors[0].path == field


def test_a_shopify_xml_order_in_another_encoding_is_read_by_its_declaration():
    xml = (DATA / "shopify_order.xml").read_text()
    latin = xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Anna", "Ann\u00e9")
    assert 'encoding="ISO-8859-1"' in latin
    order = read("shopify", latin.encode("latin-1"), "application/xml").order
    assert order.customer.name.startswith("Ann\u00e9")


def test_a_shopify_xml_order_that_is_not_utf8_and_says_nothing_is_refused():
    xml = (DATA / "shopify_order.xml").read_text().replace('<?xml version="1.0" encoding="UTF-8"?>', "")
    with pytest.raises(InvalidPayload, match="not valid XML"):
        read("shopify", xml.replace("Anna", "Ann\u00e9").encode("latin-1"), "application/xml")


def test_a_paypal_reversal_without_an_order_id_is_refused():
    event = {"id": "WH-1", "event_type": "CHECKOUT.PAYMENT-APPROVAL.REVERSED", "resource": {"reason": "x"}}
    with pytest.raises(InvalidPayload, match="names no order"):
        read("paypal", json.dumps(event).encode())


def test_a_delivery_without_an_order_id_is_refused_whatever_the_platform():
    for external_id in ("", "   ", "x" * (MAX_EXTERNAL_ID + 1), "a\u0000"):
        with pytest.raises(InvalidPayload):
            Delivery(external_id=external_id, patch={"status": "cancelled"}).check()
    Delivery(external_id="x" * MAX_EXTERNAL_ID, patch={"status": "cancelled"}).check()


def test_a_patch_holds_plain_storable_json():
    with pytest.raises(InvalidPayload, match="patch.payment.transaction_id"):
        Delivery(external_id="1", patch={"payment": {"transaction_id": "\u0000"}}).check()
    with pytest.raises(InvalidPayload, match="finite"):
        Delivery(external_id="1", patch={"payment": {"amount": float("inf")}}).check()
    with pytest.raises(InvalidPayload):
        Delivery(external_id="1").check()


@pytest.mark.parametrize("value", ["1e15", "-1e16", "1e999999", "NaN", "Infinity", [1], {"a": 1}, True, None])
def test_numbers_out_of_range_or_not_numbers(value):
    with pytest.raises(ValueError):
        to_decimal(value)


def test_numbers_in_range():
    assert to_decimal("999999999999999") == Decimal(999999999999999)
    assert to_decimal(0) == 0 and to_decimal("0.0001") == Decimal("0.0001")


def test_storable_text_writes_out_what_the_database_refuses():
    assert storable_text("caf\u00e9") == "caf\u00e9"
    assert storable_text("a\u0000b\ud800") == "a\\x00b\\ud800"
    assert not unstorable(storable_text("a\u0000b\ud800"))
