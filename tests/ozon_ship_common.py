"""Ozon orders for the assembly and label tests: a fake Ozon over real HTTP, an Ozon channel
pointed at it, and sales orders made by the inbox from the fake's FBS postings (read as the
platform reads them, ``Ozon().parse``)."""
import json
from datetime import datetime, timezone

from odoo.addons.sale_inbox.platforms.ozon import SCHEME_KEY
from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon

from .common import StoreChannelFixtures

#: Ozon SKUs of the fixtures' products (what /v4/posting/fbs/ship must be sent).
SKUS = {"TSHIRT-RED-M": 358924380, "MUG-01": 148192774}


class Clock:
    """The fake Ozon's clock, moved by the tests (labels are not ready until 45 s after packing)."""

    def __init__(self):
        self.moment = datetime.now(timezone.utc).replace(tzinfo=None)

    def __call__(self):
        return self.moment


class OzonShipFixtures(StoreChannelFixtures):

    @classmethod
    def setup_ozon(cls):
        cls.setup_store("ozon", name="Ozon", api_login="123456", api_secret="ozon-key",
                        store_url="http://127.0.0.1:9")
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        # The fake's FBS warehouse ships from the company's warehouse.
        cls.env["sale.channel.warehouse"].create({
            "channel_id": cls.channel.id, "ref": "22000000000001", "name": "Main FBS", "warehouse_id": warehouse.id})
        cls.channel.fbo_warehouse_id = warehouse
        for sku in SKUS:
            product = cls.env["product.product"].search([("default_code", "=", sku)])
            cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, 100)

    def start_ozon(self):
        from odoo.addons.sale_inbox.platforms.testing import FakeStore
        store = FakeStore()
        store.start()
        self.addCleanup(store.stop)
        self.store = store
        self.clock = Clock()
        self.ozon = FakeOzon(store, now=self.clock)
        self.channel.store_url = store.url
        return self.ozon

    def posting(self, number, products=(("MUG-01", 2, "12.50"), ("TSHIRT-RED-M", 1, "20.00")), **extra):
        """An FBS posting in the fake Ozon, received and processed into a confirmed sales order."""
        posting = self.ozon.fbs_posting(number, [(sku, qty, price, SKUS[sku]) for sku, qty, price in products],
                                        addressee={"name": "Ivan Petrov", "phone": ""}, **extra)
        for product in posting["products"]:
            product["currency_code"] = "EUR"
        self.ozon.add_posting(posting)
        body = json.dumps(dict(self.ozon.public(posting), **{SCHEME_KEY: "fbs"})).encode()
        self.Inbox._receive(self.channel, body, "application/json")
        self.process()
        inbox = self.inbox().filtered(lambda o: o.external_id == number)
        self.assertEqual(inbox.state, "done", inbox.error_message)
        return inbox.sale_order_id

    def delivery(self, order):
        return order.picking_ids.filtered(lambda p: p.picking_type_code == "outgoing" and p.state != "cancel")

    def validate(self, picking):
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking.button_validate()

    def send_outbox(self):
        return self.env["sale.channel.outbox"]._cron_send()

    def assembled(self, order):
        return self.env["sale.channel.outbox"].search(
            [("sale_order_id", "=", order.id), ("store_status", "=", "awaiting_deliver")], order="id")

    def split(self, order, parts, parent_status="cancelled_from_split_pending"):
        """Ozon splits the order's posting (packed into several packages): ``parts``, (posting
        number, products) each, come as postings split off it and are linked to ``order``;
        the parent posting gets ``parent_status``, as a read of it from Ozon writes it."""
        parent = order.inbox_order_id.external_id
        self.ozon.set_status(parent, parent_status)
        order.sudo().store_status = parent_status
        for number, products in parts:
            linked = self.posting(number, products, parent_posting_number=parent)
            self.assertEqual(linked, order, "the part is linked to the parent's sales order")
