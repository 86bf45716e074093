import contextlib
import json
import pathlib
import socket
import threading

import requests

from odoo.tests import HttpCase, tagged
from odoo.tests.common import HOST

from .common import API_KEY, CONNECT_PATH, InboxFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"


@tagged("post_install", "-at_install")
class TestConnectIntake(InboxFixtures, HttpCase):
    """The Connect API over real HTTP: what the shop sees, and what is stored."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.Inbox = cls.env["sale.inbox.order"]

    def post(self, data, key=API_KEY, raw=None, headers=None):
        body = raw if raw is not None else json.dumps(data)
        all_headers = {"Content-Type": "application/json"}
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        all_headers.update(headers or {})
        return self.url_open(CONNECT_PATH, data=body, headers=all_headers, timeout=30)

    def inbox_count(self):
        return self.Inbox.search_count([("channel_id", "=", self.channel.id)])

    def test_new_order_is_stored_and_acknowledged_with_201(self):
        cron = self.env.ref("sale_inbox.ir_cron_process_inbox")
        triggers_before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        response = self.post(self.order_data())
        self.assertEqual(response.status_code, 201, response.text)
        answer = response.json()
        order = self.Inbox.browse(answer["id"])
        self.assertEqual(order.external_id, "1001")
        self.assertEqual(answer["status"], "new")
        self.assertEqual(order.state, "new", "intake must not process inline")
        self.assertFalse(order.sale_order_id)
        self.assertEqual(json.loads(order.payload), self.order_data(), "the raw payload is kept as received")
        self.assertEqual(order.amount_total, 69.58)
        self.assertTrue(order.paid)
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers_before + 1,
            "intake wakes the processing cron up",
        )

    def test_same_order_again_answers_200_and_changes_nothing(self):
        first = self.post(self.order_data())
        order = self.Inbox.browse(first.json()["id"])
        write_date = order.write_date
        second = self.post(self.order_data())
        self.assertEqual(second.status_code, 200)
        self.assertEqual(second.json()["id"], first.json()["id"])
        self.assertEqual(self.inbox_count(), 1)
        self.assertEqual(len(order.delivery_ids), 1)
        order.invalidate_recordset()
        self.assertEqual(order.write_date, write_date)
        self.assertEqual(second.json(), first.json(), "the 201 answer says what the record holds")

    def test_changed_order_is_recorded_as_a_pending_delivery(self):
        self.post(self.order_data(payment={"method": "card", "status": "pending"}))
        response = self.post(self.order_data())
        self.assertEqual(response.status_code, 200)
        order = self.Inbox.browse(response.json()["id"])
        self.assertEqual(order.delivery_ids.mapped("state"), ["pending", "applied"])
        self.assertFalse(order.paid, "the update waits for processing, intake takes no lock")

    def test_wrong_or_missing_key_is_401_and_stores_nothing(self):
        for key in ("wrong-key", None, ""):
            response = self.post(self.order_data(), key=key)
            self.assertEqual(response.status_code, 401, key)
            self.assertEqual(response.json()["error"], "unauthorized")
        self.assertEqual(self.inbox_count(), 0)
        self.assertFalse(self.env["sale.inbox.delivery"].search([("channel_id", "=", self.channel.id)]))

    def test_key_of_an_archived_channel_is_refused(self):
        self.channel.active = False
        self.assertEqual(self.post(self.order_data()).status_code, 401)

    def test_invalid_body_is_422_listing_each_field_and_stores_nothing(self):
        data = self.order_data(currency="euro", total="many")
        del data["lines"][0]["sku"]
        response = self.post(data)
        self.assertEqual(response.status_code, 422)
        fields = {error["field"] for error in response.json()["errors"]}
        self.assertEqual(fields, {"currency", "total", "lines[0].sku"})
        self.assertEqual(self.inbox_count(), 0)
        response = self.post(None, raw="{not json")
        self.assertEqual(response.status_code, 422)
        self.assertEqual(self.inbox_count(), 0)

    def test_too_large_body_is_413(self):
        data = self.order_data(note="x" * (3 * 1024 * 1024))
        response = self.post(data)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(self.inbox_count(), 0)

    def test_disconnected_channel_answers_503(self):
        self.channel.action_disconnect()
        response = self.post(self.order_data())
        self.assertEqual(response.status_code, 503)
        self.assertEqual(self.inbox_count(), 0)

    def test_get_tells_the_order_status(self):
        self.post(self.order_data())
        self.run_cron()
        response = self.url_open(f"{CONNECT_PATH}/1001", headers={"Authorization": f"Bearer {API_KEY}"})
        self.assertEqual(response.status_code, 200)
        answer = response.json()
        self.assertEqual(answer["status"], "done")
        self.assertTrue(answer["sale_order"])
        self.assertTrue(answer["invoice"])
        missing = self.url_open(f"{CONNECT_PATH}/nope", headers={"Authorization": f"Bearer {API_KEY}"})
        self.assertEqual(missing.status_code, 404)
        unauthorized = self.url_open(f"{CONNECT_PATH}/1001", headers={"Authorization": "Bearer x"})
        self.assertEqual(unauthorized.status_code, 401)

    def test_other_channels_orders_are_not_visible(self):
        other = self.env["sale.channel"].create({"name": "Other", "api_key": "other-key-123"})
        self.post(self.order_data())
        response = self.url_open(f"{CONNECT_PATH}/1001", headers={"Authorization": "Bearer other-key-123"})
        self.assertEqual(response.status_code, 404)
        self.assertTrue(other)

    def test_two_simultaneous_deliveries_over_http_make_one_order(self):
        # Plain requests from two threads (the test opener is bound to the test thread);
        # the test server still serves them one transaction at a time, so the true race
        # between two database transactions is in test_concurrency.
        self.env.flush_all()
        responses = []
        barrier = threading.Barrier(2)
        url = self.base_url() + CONNECT_PATH
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
        body = json.dumps(self.order_data())

        def deliver():
            barrier.wait()
            responses.append(requests.post(url, data=body, headers=headers, timeout=60))

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(sorted(r.status_code for r in responses), [200, 201])
        self.assertEqual(len({r.json()["id"] for r in responses}), 1)
        self.assertEqual(self.inbox_count(), 1)

    def test_a_new_api_key_works_at_once_and_the_old_one_no_longer(self):
        self.assertEqual(self.post(self.order_data("K1")).status_code, 201)  # the key is now cached
        self.channel.api_key = "rotated-key-91ad"
        self.assertEqual(self.post(self.order_data("K2")).status_code, 401)
        self.assertEqual(self.post(self.order_data("K2"), key="rotated-key-91ad").status_code, 201)

    def test_nothing_posted_to_an_idosell_channels_webhook_url_is_stored(self):
        # IdoSell sends no webhooks: whatever arrives at its channel's URL is refused.
        shop = self.env["sale.channel"].create({"name": "IdoSell", "platform": "idosell", "api_secret": "k"})
        body = (DATA / "idosell_order.json").read_bytes()
        response = self.url_open(shop._webhook_path(), data=body, timeout=30,
                                 headers={"Content-Type": "application/json", "X-API-KEY": "k"})
        self.assertEqual(response.status_code, 401)
        self.assertFalse(self.Inbox.search([("channel_id", "=", shop.id)]))

    def post_chunked(self, path, headers, chunks, end=True):
        """POST with ``Transfer-Encoding: chunked`` (no Content-Length) over a raw socket;
        without ``end`` the body never ends. Returns the status line (b'' when none came)."""
        head = [f"POST {path} HTTP/1.1", f"Host: {HOST}", "Transfer-Encoding: chunked",
                "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
        with socket.create_connection((HOST, self.http_port()), timeout=20) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if end:
                sock.sendall(b"0\r\n\r\n")
            answer = b""
            # The status line is what the test reads: a time-out after it is fine.
            with contextlib.suppress(TimeoutError):
                while b"\r\n" not in answer:
                    part = sock.recv(4096)
                    if not part:
                        break
                    answer += part
        return answer.split(b"\r\n", 1)[0]

    def test_a_chunked_order_is_read(self):
        body = json.dumps(self.order_data()).encode()
        status = self.post_chunked(CONNECT_PATH, {"Authorization": f"Bearer {API_KEY}"},
                                   [body[i:i + 100] for i in range(0, len(body), 100)])
        self.assertIn(b" 201 ", status)
        self.assertEqual(self.inbox_count(), 1)

    def test_a_chunked_body_over_the_limit_is_refused_without_reading_the_rest(self):
        # The body never ends: a route that reads a body to its end would wait for ever
        # (here, until the test server's socket timeout), instead of stopping one byte past
        # the limit and refusing it.
        limit = self.channel._platform().max_body_size
        chunks = [b"x" * 65536] * (limit // 65536 + 1)
        shop = self.env["sale.channel"].create({"name": "Chunked", "platform": "shopify", "webhook_secret": "s"})
        for path, headers in ((CONNECT_PATH, {"Authorization": f"Bearer {API_KEY}"}),
                              (shop._webhook_path(), {"X-Shopify-Hmac-Sha256": "x"})):
            with self.subTest(path=path):
                self.assertIn(b" 413 ", self.post_chunked(path, headers, chunks, end=False))
        self.assertEqual(self.inbox_count(), 0)
