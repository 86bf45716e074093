"""Issue 10, what comes in from outside, tried over real HTTP as an attacker would: bodies
past the limit whatever their framing and type, OPTIONS on the store routes, what a forged
PayPal delivery costs the merchant, and log lines forged with line breaks."""
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import pathlib
import socket
import time

from odoo.tests import HttpCase, tagged
from odoo.tests.common import HOST

from odoo.addons.sale_inbox.platforms import paypal as paypal_module
from odoo.addons.sale_inbox.platforms.paypal import TOKENS
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import API_KEY, CONNECT_PATH, InboxFixtures, StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
WOO_SECRET = "wc-secret-1"
PAYPAL_HEADERS = {"PAYPAL-TRANSMISSION-ID": "t-1", "PAYPAL-TRANSMISSION-TIME": "2025-03-14T08:21:10Z",
                  "PAYPAL-TRANSMISSION-SIG": "good-signature", "PAYPAL-CERT-URL": "https://api.paypal.com/cert",
                  "PAYPAL-AUTH-ALGO": "SHA256withRSA", "Content-Type": "application/json"}
TOKEN_PATH = "/v1/oauth2/token"
VERIFY_PATH = "/v1/notifications/verify-webhook-signature"


def woo_signature(body, secret=WOO_SECRET):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class RawHttp:
    """Requests over a raw socket, for what ``requests`` will not send: a body that never
    ends, a header folded over two lines."""

    def raw_request(self, method, path, headers, chunks=(), chunked=True, end=True, timeout=10):
        """Send a request; without ``end`` its body never ends. Returns the status line and
        whatever of the answer came within ``timeout`` (b'' when nothing came)."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        head += [f"{name}: {value}" for name, value in headers.items()]
        answer = b""
        with socket.create_connection((HOST, self.http_port()), timeout=timeout) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked and end:
                sock.sendall(b"0\r\n\r\n")
            # The status line is what the tests read: a time-out after it is fine.
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                while b"\r\n\r\n" not in answer:
                    part = sock.recv(65536)
                    if not part:
                        break
                    answer += part
        return answer.split(b"\r\n", 1)[0], answer


@tagged("post_install", "-at_install")
class TestStoreRouteBodies(RawHttp, InboxFixtures, HttpCase):
    """The body limit holds whatever the framing and the content type, and OPTIONS is not a
    POST."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.woo = cls.env["sale.channel"].create({
            "name": "Woo", "platform": "woocommerce", "webhook_secret": WOO_SECRET})
        cls.Inbox = cls.env["sale.inbox.order"]
        cls.woo_json = json.loads((DATA / "woocommerce_order.json").read_text())

    def stored(self):
        return self.Inbox.search_count([("channel_id", "in", (self.channel | self.woo).ids)])

    def routes(self):
        return ((CONNECT_PATH, {"Authorization": f"Bearer {API_KEY}"}),
                (self.woo._webhook_path(), {"X-WC-Webhook-Signature": "x", "X-WC-Webhook-Topic": "order.created"}))

    def test_a_form_body_past_the_limit_is_refused_before_it_is_read_chunked_or_not(self):
        # Odoo reads a form body whole into the request's parameters before a route runs,
        # whatever its size: a sender could make a worker read any amount before the
        # signature is checked. The body never ends here: a server that reads it to its end
        # does not answer at all.
        limit = self.channel._platform().max_body_size
        chunks = [b"x" * 65536] * (limit // 65536 + 1)
        for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=b0undary"):
            for path, headers in self.routes():
                for chunked in (True, False):
                    with self.subTest(content_type=content_type, path=path, chunked=chunked):
                        headers = dict(headers, **{"Content-Type": content_type})
                        if not chunked:
                            headers["Content-Length"] = str(50 * limit)
                        status, _answer = self.raw_request("POST", path, headers, chunks, chunked=chunked, end=False)
                        self.assertIn(b" 413 ", status)
        self.assertEqual(self.stored(), 0)

    def test_a_signed_chunked_body_past_the_limit_is_refused(self):
        # Signed, so that only the size can refuse it.
        limit = self.woo._platform().max_body_size
        body = json.dumps(dict(self.woo_json, customer_note="x" * limit)).encode()
        headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
                   "X-WC-Webhook-Signature": woo_signature(body)}
        status, answer = self.raw_request("POST", self.woo._webhook_path(), headers,
                                          [body[i:i + 65536] for i in range(0, len(body), 65536)])
        self.assertIn(b" 413 ", status, answer[:500])
        self.assertEqual(self.stored(), 0)

    def test_the_woocommerce_set_up_ping_still_works_as_a_form(self):
        status, _answer = self.raw_request("POST", self.woo._webhook_path(),
                                           {"Content-Type": "application/x-www-form-urlencoded"}, [b"webhook_id=7"])
        self.assertIn(b" 200 ", status)
        self.assertEqual(self.stored(), 0)

    def test_options_is_not_a_post(self):
        connect_body = json.dumps(self.order_data()).encode()
        woo_body = json.dumps(self.woo_json).encode()
        requests = (
            (CONNECT_PATH, connect_body, {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}),
            (self.woo._webhook_path(), woo_body, {
                "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
                "X-WC-Webhook-Signature": woo_signature(woo_body)}),
        )
        for path, body, headers in requests:
            with self.subTest(path=path):
                response = self.opener.request("OPTIONS", self.base_url() + path, data=body, headers=headers,
                                               timeout=30)
                self.assertEqual(response.status_code, 405, response.text)
                self.assertEqual(response.headers.get("Allow"), "POST")
                self.assertNotIn("Access-Control-Allow-Origin", response.headers)
        self.assertEqual(self.stored(), 0)
        # The same requests as POST are stored: the refusal above is the method's.
        for path, body, headers in requests:
            self.assertEqual(self.url_open(path, data=body, headers=headers, timeout=30).status_code // 100, 2)
        self.assertEqual(self.stored(), 2)

    def test_the_order_status_route_takes_get_only(self):
        self.receive(self.order_data())
        url = self.base_url() + CONNECT_PATH + "/1001"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        self.assertEqual(self.opener.request("OPTIONS", url, headers=headers, timeout=30).status_code, 405)
        self.assertEqual(self.opener.get(url, headers=headers, timeout=30).status_code, 200)

    def test_header_values_with_line_breaks_forge_no_log_line(self):
        # A header folded over two lines reaches the application with its line break.
        forged = "x\n2026-11-29 10:00:00,000 1 INFO db odoo.addons.sale_inbox: forged"
        woo_body = json.dumps(self.woo_json).encode()
        requests = (
            (CONNECT_PATH, {"Authorization": "Bearer " + forged, "Content-Type": "application/json"},
             json.dumps(self.order_data()).encode()),
            (CONNECT_PATH, {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json; x=" + forged},
             json.dumps(self.order_data(number=forged, lines=[{"sku": forged}])).encode()),
            (self.woo._webhook_path(), {"Content-Type": "application/json", "X-WC-Webhook-Topic": forged,
                                        "X-WC-Webhook-Signature": forged}, woo_body),
            (self.woo._webhook_path(), {"Content-Type": "application/json", "X-WC-Webhook-Topic": forged,
                                        "X-WC-Webhook-Signature": woo_signature(b"{" + woo_body)},
             b"{" + woo_body),
        )
        with self.assertLogs("odoo.addons.sale_inbox", "DEBUG") as logs:
            for path, headers, body in requests:
                folded = {name: value.replace("\n", "\n ") for name, value in headers.items()}
                status, answer = self.raw_request("POST", path, dict(folded, **{"Content-Length": len(body)}),
                                                  [body], chunked=False)
                self.assertTrue(status, "the server answered")
                self.assertNotIn(b" 500 ", status, answer[:500])
        self.assertTrue(logs.records, "the refusals are logged")
        for record in logs.records:
            self.assertNotRegex(record.getMessage(), r"[\r\n]")


@tagged("post_install", "-at_install")
class TestPayPalDeliveryCost(RawHttp, StoreChannelFixtures, HttpCase):
    """A delivery anyone can post costs the merchant PayPal calls under their credentials:
    as few as possible, and never a long wait for the orders behind it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("paypal", name="PayPal Checkout", api_login="client", api_secret="secret",
                        webhook_secret="WH-ID-1", wait_for_payment=True)
        cls.approved = json.loads((DATA / "paypal_order_approved.json").read_text())

    def setUp(self):
        super().setUp()
        TOKENS.clear()
        self.addCleanup(TOKENS.clear)
        self.store = FakeStore()
        self.store.start()
        self.addCleanup(self.store.stop)
        self.store.route("POST", TOKEN_PATH, json={"access_token": "A21AA", "expires_in": 32400})
        self.store.route("POST", VERIFY_PATH, handler=lambda r: (
            200, {}, {"verification_status": "SUCCESS" if r.json()["transmission_sig"] == "good-signature"
                      else "FAILURE"}))
        self.channel.store_url = self.store.url

    def deliver(self, event, signature="good-signature", method="POST"):
        return self.opener.request(method, self.base_url() + self.channel._webhook_path(),
                                   data=json.dumps(event).encode(), timeout=60,
                                   headers=dict(PAYPAL_HEADERS, **{"PAYPAL-TRANSMISSION-SIG": signature}))

    def paypal_calls(self):
        return len(self.store.calls("POST", TOKEN_PATH)), len(self.store.calls("POST", VERIFY_PATH))

    def test_a_store_answer_with_line_breaks_forges_no_log_line(self):
        """A store's error text is logged: a line break in it must not start a log line of
        its own (a forged entry for whoever reads the logs)."""
        self.store.route("POST", TOKEN_PATH, status=401, json={
            "error": "invalid_client",
            "error_description": "Client Authentication failed\n2026-11-29 10:00:00,000 1 INFO db x: forged"})
        # logging.INFO, not "INFO": Odoo names its level 25 "INFO" too.
        with self.assertLogs("odoo.addons.sale_inbox", logging.INFO) as logs:
            self.channel.action_test_connection()
        self.assertTrue(logs.records)
        for record in logs.records:
            self.assertNotRegex(record.getMessage(), r"[\r\n]")

    def test_deliveries_share_one_token(self):
        for number in range(3):
            event = dict(self.approved, resource=dict(self.approved["resource"], id=f"ORDER-{number}"))
            self.assertEqual(self.deliver(event).status_code, 200)
        for _ in range(3):
            self.assertEqual(self.deliver(self.approved, signature="forged").status_code, 401)
        self.assertEqual(self.paypal_calls(), (1, 6))
        self.assertEqual(len(self.inbox()), 3)

    def test_an_event_we_do_not_read_costs_no_paypal_call(self):
        for signature in ("good-signature", "forged"):
            response = self.deliver(dict(self.approved, event_type="CUSTOMER.DISPUTE.CREATED"), signature=signature)
            self.assertEqual((response.status_code, response.json()["status"]), (200, "ignored"))
        self.assertEqual(self.paypal_calls(), (0, 0))
        self.assertFalse(self.inbox())

    def test_what_cannot_be_paypals_costs_no_paypal_call(self):
        forged_headers = dict(PAYPAL_HEADERS, **{"PAYPAL-CERT-URL": "https://attacker.example/cert"})
        response = self.url_open(self.channel._webhook_path(), data=json.dumps(self.approved).encode(),
                                 headers=forged_headers, timeout=30)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(self.paypal_calls(), (0, 0))

    def test_options_costs_no_paypal_call_and_stores_nothing(self):
        response = self.deliver(self.approved, method="OPTIONS")
        self.assertEqual(response.status_code, 405)
        self.assertEqual(self.paypal_calls(), (0, 0))
        self.assertFalse(self.inbox())

    def assert_answered_in_time(self, event):
        started = time.monotonic()
        response = self.deliver(event)
        elapsed = time.monotonic() - started
        # Not a refusal (401): authentic or not is unknown, and PayPal delivers a 503 again.
        self.assertEqual(response.status_code, 503, response.text)
        self.assertLess(elapsed, paypal_module.VERIFY_BUDGET + 2)
        self.assertFalse(self.inbox())

    def test_paypal_limiting_our_rate_is_answered_at_once(self):
        self.store.route("POST", TOKEN_PATH, responses=[
            (429, {"Retry-After": "5"}, {"name": "RATE_LIMIT_REACHED", "message": "Too many requests"})])
        self.assert_answered_in_time(self.approved)
        self.assertEqual(self.paypal_calls(), (1, 0), "one attempt")
        self.store.route("POST", TOKEN_PATH, json={"access_token": "A21AA", "expires_in": 32400})
        self.store.route("POST", VERIFY_PATH, responses=[(429, {"Retry-After": "5"}, {"name": "RATE_LIMIT_REACHED"})])
        self.assert_answered_in_time(self.approved)
        self.assertEqual(self.paypal_calls(), (2, 1))

    def test_a_slow_paypal_is_waited_for_a_bounded_time(self):
        def slow(_request):
            time.sleep(paypal_module.VERIFY_BUDGET + 6)
            return 200, {}, {"verification_status": "SUCCESS"}

        self.store.route("POST", VERIFY_PATH, handler=slow, concurrent=True)
        self.assert_answered_in_time(self.approved)
        self.assertEqual(self.paypal_calls(), (1, 1))

    def test_header_values_with_line_breaks_forge_no_log_line(self):
        forged = "x\n2026-11-29 10:00:00,000 1 INFO db odoo.addons.sale_inbox: forged"
        body = json.dumps(self.approved).encode()
        self.store.route("POST", VERIFY_PATH, status=400, json={
            "name": "VALIDATION_ERROR", "message": "Invalid request\n" + forged})
        with self.assertLogs("odoo.addons.sale_inbox", "DEBUG") as logs:
            for headers in ({**PAYPAL_HEADERS, "PAYPAL-TRANSMISSION-SIG": forged},
                            {**PAYPAL_HEADERS, "PAYPAL-CERT-URL": "https://api.paypal.com/" + forged}):
                folded = {name: value.replace("\n", "\n ") for name, value in headers.items()}
                status, answer = self.raw_request("POST", self.channel._webhook_path(),
                                                  dict(folded, **{"Content-Length": len(body)}), [body], chunked=False)
                self.assertTrue(status, "the server answered")
                self.assertNotIn(b" 500 ", status, answer[:500])
        self.assertTrue(logs.records)
        for record in logs.records:
            self.assertNotRegex(record.getMessage(), r"[\r\n]")
