"""Intake never waits for processing, and never logs personal data while racing.

Real transactions: the orders are committed, processing holds its claim in a cursor of its
own, and the store's redelivery comes over HTTP to the test server (outside any test
transaction), with a short timeout: a store gives up after a few seconds (Shopify: 5).
"""
import json
import logging
import threading
import time

import requests

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, tagged
from odoo.tests.common import HOST, get_db_name
from odoo.tools import config

from .common import CONNECT_PATH

API_KEY = "lock-test-key-2b7e"
CUSTOMER = "Ilze Lock-Kalnina"
EMAIL = "ilze.lock@example.lv"
#: Seconds intake may take while processing holds the order.
PROMPT = 2.0


def order(external_id="L-1", status="pending"):
    return {
        "id": external_id, "currency": "EUR", "total": 10,
        "customer": {"name": CUSTOMER, "email": EMAIL},
        "shipping_address": {"name": CUSTOMER, "street": "Lacplesa iela 9", "city": "Riga", "country": "LV"},
        "lines": [{"sku": "LOCK-1", "quantity": 1, "unit_price": 10}],
        "payment": {"method": "card", "status": status},
    }


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@tagged("post_install", "-at_install")
class TestIntakeNeverWaitsForProcessing(BaseCase):

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["sale.channel"].create({"name": "Lock shop", "api_key": API_KEY, "auto_process": True})
            self.channel_id = channel.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            for table in ("sale_inbox_delivery", "sale_inbox_order"):
                cr.execute(f"DELETE FROM {table} WHERE channel_id = %s", (self.channel_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (self.channel_id,))

    def store_pushing_on_change(self):
        """Another store of the company, told of every change of LOCK-1's availability."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            store = env["sale.channel"].create({"name": "Lock store", "platform": "woocommerce",
                                                "push_on_change": True, "auto_process": False})
            product = env["product.product"].create({"name": "Lock mug", "default_code": "LOCK-1"})
            row = env["sale.channel.product"].create({"channel_id": store.id, "product_id": product.id,
                                                      "sku": "LOCK-1", "state": "mapped"})
            ids = store.id, product.id, row.id
        self.addCleanup(self._cleanup_store, *ids)
        return ids

    def _cleanup_store(self, store_id, product_id, row_id):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM sale_channel_product WHERE id = %s", (row_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (store_id,))
            cr.execute("DELETE FROM product_product WHERE id = %s RETURNING product_tmpl_id", (product_id,))
            cr.execute("DELETE FROM product_template WHERE id = %s", (cr.fetchone()[0],))

    def receive(self, data):
        """Intake in a transaction of its own, committed."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["sale.channel"].browse(self.channel_id)
            return env["sale.inbox.order"]._receive(channel, json.dumps(data).encode(), "application/json")[0]

    def post(self, data):
        """The store's delivery over HTTP; (response or None when it timed out, seconds)."""
        started = time.monotonic()
        try:
            response = requests.post(
                f"http://{HOST}:{config['http_port']}{CONNECT_PATH}", data=json.dumps(data), timeout=PROMPT + 3,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})
        except requests.Timeout:
            response = None
        return response, time.monotonic() - started

    def deliveries(self, order_id):
        with self.registry.cursor() as cr:
            cr.execute("SELECT state FROM sale_inbox_delivery WHERE order_id = %s ORDER BY id", (order_id,))
            return [state for (state,) in cr.fetchall()]

    def while_processing(self, order_id, deliver, apply_deliveries=False):
        """Run ``deliver()`` while another transaction holds ``order_id`` as processing does:
        claimed, its attempt counted, its pending deliveries being applied."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            claimed = env["sale.inbox.order"]._claim()
            self.assertIn(order_id, claimed.ids)
            cr.execute("UPDATE sale_inbox_order SET attempt_count = attempt_count + 1 WHERE id IN %s",
                       (tuple(claimed.ids),))
            if apply_deliveries:
                cr.execute("UPDATE sale_inbox_delivery SET state = 'applied' WHERE order_id = %s AND state = 'pending'",
                           (order_id,))
            try:
                return deliver()
            finally:
                cr.rollback()
                # A delivery that was kept waiting goes on now: let it end before the clean-up.
                time.sleep(0.5)

    def test_a_changed_order_redelivered_during_processing_is_stored_pending_at_once(self):
        order_id = self.receive(order())
        response, seconds = self.while_processing(order_id, lambda: self.post(order(status="paid")))
        self.assertIsNotNone(response, "intake waited for processing until the store gave up")
        self.assertLess(seconds, PROMPT)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["id"], order_id)
        self.assertEqual(self.deliveries(order_id), ["applied", "pending"])

    def test_the_same_order_redelivered_during_processing_is_acknowledged_at_once(self):
        order_id = self.receive(order())
        response, seconds = self.while_processing(order_id, lambda: self.post(order()))
        self.assertIsNotNone(response, "intake waited for processing until the store gave up")
        self.assertLess(seconds, PROMPT)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.deliveries(order_id), ["applied"], "the same content is recorded once")

    def test_a_delivery_that_processing_is_applying_comes_again(self):
        order_id = self.receive(order())
        self.receive(order(status="paid"))
        response, seconds = self.while_processing(order_id, lambda: self.post(order(status="paid")),
                                                  apply_deliveries=True)
        self.assertIsNotNone(response, "intake waited for processing until the store gave up")
        self.assertLess(seconds, PROMPT)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.deliveries(order_id), ["applied", "pending"])

    def test_a_new_order_of_a_product_whose_stock_processing_is_changing_is_stored_at_once(self):
        # Processing confirms an order of LOCK-1: its stock move queues the product's push to
        # the other stores, and the queue row stays locked until the batch commits. A new order
        # of LOCK-1 arriving meanwhile must not wait for it.
        _store, _product, row_id = self.store_pushing_on_change()
        order_id = self.receive(order())
        with self.registry.cursor() as cr:  # the push job has sent what that order queued
            cr.execute("UPDATE sale_channel_product SET push_queued = false WHERE id = %s", (row_id,))

        def new_order():
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                self.assertEqual(env["sale.channel.product"]._queue_push(skus=["LOCK-1"]), 1)
                return self.post(order("L-2"))

        response, seconds = self.while_processing(order_id, new_order)
        self.assertIsNotNone(response, "intake waited for processing until the store gave up")
        self.assertLess(seconds, PROMPT)
        self.assertEqual(response.status_code, 201, response.text)

    def test_two_deliveries_of_one_new_order_racing_log_no_personal_data(self):
        capture = _Capture()
        root = logging.getLogger()
        root.addHandler(capture)
        self.addCleanup(root.removeHandler, capture)
        body = json.dumps(order("L-race")).encode()
        failures, results = [], []
        with self.registry.cursor() as cr_first, self.registry.cursor() as cr_second:
            first = api.Environment(cr_first, SUPERUSER_ID, {})
            second = api.Environment(cr_second, SUPERUSER_ID, {})
            # The second transaction's snapshot is taken before the first commits.
            cr_second.execute("SELECT 1 FROM sale_channel WHERE id = %s", (self.channel_id,))
            first["sale.inbox.order"]._receive(first["sale.channel"].browse(self.channel_id), body, "application/json")

            def deliver_second():
                try:
                    results.append(second["sale.inbox.order"]._receive(
                        second["sale.channel"].browse(self.channel_id), body, "application/json"))
                except Exception as exc:  # noqa: BLE001 -- reported below
                    failures.append(exc)

            thread = threading.Thread(target=deliver_second)
            thread.start()
            time.sleep(0.5)  # the second waits on the first's new row in the unique index
            cr_first.commit()
            thread.join(30)
            cr_second.rollback()
        self.assertEqual([type(exc).__name__ for exc in failures], ["SerializationFailure"],
                         "the loser is told to retry (Odoo retries the request)")
        personal = [message for message in capture.messages if CUSTOMER in message or EMAIL in message]
        self.assertFalse(personal, "personal data was logged")

    def test_a_delivery_that_loses_a_race_is_retried_with_its_body(self):
        # Another delivery of the same new order is being stored (not committed yet): this one
        # waits for it on the unique index, then gets a serialization failure; Odoo runs the
        # route again, which must find the body it already read from the socket.
        data = order("L-http-race")
        responses = []
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["sale.inbox.order"]._receive(env["sale.channel"].browse(self.channel_id),
                                             json.dumps(data).encode(), "application/json")
            thread = threading.Thread(target=lambda: responses.append(self.post(data)))
            thread.start()
            time.sleep(1)
            # Another cursor: the race under test.
            cr.commit()  # pylint: disable=invalid-commit
        thread.join(30)
        response, _seconds = responses[0]
        self.assertIsNotNone(response)
        self.assertEqual(response.status_code, 200, response.text)
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM sale_inbox_order WHERE channel_id = %s AND external_id = %s",
                       (self.channel_id, "L-http-race"))
            self.assertEqual(cr.fetchone()[0], 1)
