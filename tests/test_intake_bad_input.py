"""Bad input over real HTTP, for every platform: never a 500, never a lost authentic delivery.

Each case is sent signed and unsigned. Unsigned: 401, nothing stored. Signed: stored as an
order when it is readable; otherwise kept as an order in error (its error visible, its raw
bytes recoverable, Retry possible), or, for the Connect API, refused with 422 and the fields
at fault (the shop is told at once). An empty body is refused with 422 whatever the platform:
there is nothing to keep. A PayPal body that is not JSON cannot be verified (PayPal checks the
event we send back): 401, nothing stored.
"""
import base64
import copy
import hashlib
import hmac
import json
import logging
import pathlib
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from odoo.addons.sale_inbox.models.sale_inbox_order_intake import payload_bytes
from odoo.addons.sale_inbox.platforms.connect import Connect
from odoo.addons.sale_inbox.platforms.shopify import Shopify
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import allow_local_stores

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
SECRET = "bad-input-secret"
API_KEY = "bad-input-key-5f1a"
PAYPAL_HEADERS = {"PAYPAL-TRANSMISSION-ID": "t-1", "PAYPAL-TRANSMISSION-TIME": "2025-03-14T08:21:10Z",
                  "PAYPAL-CERT-URL": "https://api.paypal.com/cert", "PAYPAL-AUTH-ALGO": "SHA256withRSA"}

#: Per platform: its sample order, and where in it are a customer's name, the order's lines,
#: the customer, the order id and an amount.
PLATFORMS = {
    "connect": ("connect_order.json", ("customer", "name"), ("lines",), ("customer",), ("id",), ("total",)),
    "shopify": ("shopify_order.json", ("customer", "first_name"), ("line_items",), ("customer",), ("id",),
                ("total_price",)),
    "woocommerce": ("woocommerce_order.json", ("billing", "first_name"), ("line_items",), ("billing",), ("id",),
                    ("total",)),
    "mozello": ("mozello_order_created.json", ("order", "name"), ("order", "cart"), ("order", "shipping"),
                ("order", "order_id"), ("order", "total")),
    "paypal": ("paypal_order_approved.json", ("resource", "payer", "name", "given_name"),
               ("resource", "purchase_units"), ("resource", "payer"), ("resource", "id"),
               ("resource", "purchase_units", 0, "amount", "value")),
    "idosell": ("idosell_order.json", ("clientResult", "clientBillingAddress", "clientFirstName"),
                ("orderDetails", "productsResults"), ("clientResult",), ("orderSerialNumber",),
                ("orderDetails", "payments", "orderCurrency", "orderDeliveryCost")),
}


def changed(data, path, value):
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def cases(platform):
    """(name, body, content type, readable): the bad inputs, built from the platform's sample."""
    sample, name, lines, customer, external_id, amount = PLATFORMS[platform]
    data = json.loads((DATA / sample).read_text())
    as_json = json.dumps(data)
    yield "nested 50,000 deep", b"[" * 50000 + b"]" * 50000, "application/json", False
    yield "objects nested 50,000 deep", b'{"a":' * 50000 + b"1" + b"}" * 50000, "application/json", False
    yield "a NUL character in a name", json.dumps(changed(data, name, "Anna\u0000")).encode(), "application/json", False
    yield ("a lone surrogate in a name", json.dumps(changed(data, name, "Anna\ud800")).encode(),
           "application/json", False)
    yield "lines are a string", json.dumps(changed(data, lines, "x")).encode(), "application/json", False
    yield "the customer is a list", json.dumps(changed(data, customer, [1])).encode(), "application/json", False
    yield "an empty order id", json.dumps(changed(data, external_id, "")).encode(), "application/json", False
    yield "an amount out of range", json.dumps(changed(data, amount, "1e999999")).encode(), "application/json", False
    yield "not UTF-8", as_json.replace('"', '"\xe9', 1).encode("latin-1"), "application/json", False
    yield "a NUL byte after the JSON", as_json.encode() + b"\x00", "application/json", False
    yield "empty", b"", "application/json", False
    if platform == "mozello":
        event = {"event": "PAYMENT\u0000CHANGED", "order": {"order_id": "MZ-1"}}
        yield "a notification quoting a NUL in its error", json.dumps(event).encode(), "application/json", False
    if platform == "shopify":
        xml = (DATA / "shopify_order.xml").read_text().replace("Anna", "Ann\u00e9")
        declared = xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
        yield "XML in ISO-8859-1, declared", declared, "application/xml", True
        undeclared = xml.replace('<?xml version="1.0" encoding="UTF-8"?>', "").encode("latin-1")
        yield "XML not UTF-8, undeclared", undeclared, "application/xml", False
        yield "XML nested 50,000 deep", b"<a>" * 50000 + b"</a>" * 50000, "application/xml", False


@tagged("post_install", "-at_install")
class TestBadInputOverHttp(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        allow_local_stores(cls.env)
        Channel = cls.env["sale.channel"]
        common = {"auto_process": False, "webhook_secret": SECRET, "api_secret": SECRET}
        cls.channels = {
            "connect": Channel.create({"name": "Bad input Connect", "platform": "connect", "api_key": API_KEY}),
            **{code: Channel.create(dict(common, name=f"Bad input {code}", platform=code))
               for code in ("shopify", "woocommerce", "mozello", "paypal", "idosell")},
        }
        cls.channels["paypal"].api_login = "client"
        cls.Inbox = cls.env["sale.inbox.order"]

    def setUp(self):
        super().setUp()
        paypal = FakeStore()
        paypal.start()
        self.addCleanup(paypal.stop)
        paypal.route("POST", "/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 32400})
        paypal.route("POST", "/v1/notifications/verify-webhook-signature", handler=lambda r: (
            200, {}, {"verification_status": "SUCCESS" if r.json()["transmission_sig"] == "good" else "FAILURE"}))
        self.channels["paypal"].store_url = paypal.url

    def send(self, platform, body, content_type, signed):
        channel = self.channels[platform]
        headers = {"Content-Type": content_type}
        secret = SECRET if signed else "forged"
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        if platform == "connect":
            headers["Authorization"] = f"Bearer {API_KEY if signed else 'forged-key'}"
        elif platform == "shopify":
            headers["X-Shopify-Hmac-Sha256"] = digest
        elif platform == "woocommerce":
            headers.update({"X-WC-Webhook-Signature": digest, "X-WC-Webhook-Topic": "order.created"})
        elif platform == "mozello":
            headers["X-Mozello-Hash"] = digest
        elif platform == "paypal":
            headers.update(PAYPAL_HEADERS, **{"PAYPAL-TRANSMISSION-SIG": "good" if signed else "forged"})
        else:
            headers["X-API-KEY"] = SECRET
        # The test opener itself: url_open sends a GET when the body is empty.
        return self.opener.post(self.base_url() + channel._webhook_path(), data=body, headers=headers, timeout=60)

    def stored(self, platform):
        return self.Inbox.search([("channel_id", "=", self.channels[platform].id)])

    def check_platform(self, platform):
        for name, body, content_type, readable in cases(platform):
            with self.subTest(platform=platform, case=name):
                before = self.stored(platform)
                response = self.send(platform, body, content_type, signed=False)
                self.assertEqual(response.status_code, 401, response.text)
                self.assertEqual(self.stored(platform), before, "an unsigned delivery stores nothing")

                response = self.send(platform, body, content_type, signed=True)
                self.assertNotEqual(response.status_code, 500, response.text)
                new = self.stored(platform) - before
                verifiable = platform != "paypal" or _is_json(body)
                if platform == "idosell" or not verifiable:
                    self.assertEqual(response.status_code, 401, response.text)
                    self.assertFalse(new)
                elif readable:
                    self.assertIn(response.status_code, (200, 201), response.text)
                    self.assertEqual(len(new), 1)
                    self.assertEqual(new.state, "new")
                    self.assertEqual(payload_bytes(new.payload, new.payload_content_type)[0], body)
                elif platform == "connect" or not body:
                    self.assertEqual(response.status_code, 422, response.text)
                    self.assertTrue(response.json()["errors"], "the shop is told what is wrong")
                    self.assertFalse(new, "a refused order is not stored")
                else:
                    self.assertEqual(response.status_code, 200, response.text)
                    self.assertEqual(len(new), 1, "an authentic delivery is kept")
                    self.assertEqual(response.json()["id"], new.id)
                    self.assertEqual((new.state, new.failed_step), ("error", "parse"))
                    self.assertTrue(new.error_message)
                    self.assertEqual(response.json()["message"], new.error_message, "the store is told why")
                    self.assertEqual(payload_bytes(new.payload, new.payload_content_type)[0], body,
                                     "the raw bytes are kept")
                    new.action_retry()
                    self.assertEqual((new.state, new.failed_step), ("error", "parse"), "still unreadable")
                    # The same delivery again is the same record.
                    self.assertEqual(self.send(platform, body, content_type, signed=True).status_code, 200)
                    self.assertEqual(self.stored(platform) - before, new)

    def test_connect(self):
        self.check_platform("connect")

    def test_shopify(self):
        self.check_platform("shopify")

    def test_woocommerce(self):
        self.check_platform("woocommerce")

    def test_mozello(self):
        self.check_platform("mozello")

    def test_paypal(self):
        self.check_platform("paypal")

    def test_idosell(self):
        self.check_platform("idosell")

    def test_the_error_says_what_is_wrong(self):
        sample = json.loads((DATA / "shopify_order.json").read_text())
        for value, expected in (("Anna\u0000", "NUL"), ("Anna\ud800", "surrogate")):
            body = json.dumps(changed(sample, ("customer", "first_name"), value)).encode()
            self.send("shopify", body, "application/json", signed=True)
            kept = self.stored("shopify").filtered(lambda o, text=body.decode(): o.payload == text)  # noqa: B008
            self.assertIn("customer.name", kept.error_message)
            self.assertIn(expected, kept.error_message)
        body = json.dumps(changed(sample, ("line_items",), "x")).encode()
        answer = self.send("shopify", body, "application/json", True).json()
        self.assertIn("line_items: must be a list", answer["message"])

    def test_whatever_a_parser_raises_the_delivery_is_kept_and_nothing_personal_is_logged(self):
        # No realistic input makes the hardened parsers crash: a crash is injected, with a
        # message quoting the payload as Python's own errors do.
        crash = ZeroDivisionError("cannot divide 'Anna Ozola\u0000'")
        body = (DATA / "shopify_order.json").read_bytes()
        with patch.object(Shopify, "read_order", side_effect=crash), \
                self.assertLogs("odoo.addons.sale_inbox", level=logging.INFO) as logs:
            response = self.send("shopify", body, "application/json", signed=True)
        self.assertEqual(response.status_code, 200, response.text)
        kept = self.stored("shopify")
        self.assertEqual((kept.state, kept.failed_step), ("error", "parse"))
        self.assertIn("parser failed: ZeroDivisionError", kept.error_message)
        self.assertIn("\\x00", kept.error_message, "what the database cannot store is written out")
        self.assertFalse([line for line in logs.output if "Anna" in line], logs.output)
        # The Connect API keeps it too (the shop could not correct our bug): 201, in error.
        connect = json.loads((DATA / "connect_order.json").read_text())
        with patch.object(Connect, "read_order", side_effect=crash):
            response = self.send("connect", json.dumps(connect).encode(), "application/json", signed=True)
        self.assertEqual(response.status_code, 201, response.text)
        self.assertEqual(response.json()["status"], "error")
        self.assertEqual(self.stored("connect").failed_step, "parse")


def _is_json(body):
    try:
        json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True
