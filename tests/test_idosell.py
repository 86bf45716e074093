"""IdoSell end to end against a fake IdoSell: the poll across pages and time, status changes
both ways, and stock."""
import copy
import json
import pathlib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from odoo.tests import TransactionCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeIdoSell

from .common import StockFixtures, StoreChannelFixtures

DATA = pathlib.Path(__file__).resolve().parents[1] / "platforms" / "tests" / "data"
WARSAW = ZoneInfo("Europe/Warsaw")


def wall(moment):
    """A naive UTC moment as a Warsaw shop shows it."""
    return moment.replace(tzinfo=timezone.utc).astimezone(WARSAW).strftime("%Y-%m-%d %H:%M:%S")


@tagged("post_install", "-at_install")
class TestIdoSell(StoreChannelFixtures, StockFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_store("idosell", name="IdoSell", api_secret="ido-key", store_timezone="Europe/Warsaw",
                        poll_orders=True, add_payment=False)
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        for sku in ("TSHIRT-RED-M", "MUG-01"):
            product = cls.env["product.product"].search([("default_code", "=", sku)])
            cls.env["stock.quant"]._update_available_quantity(product, warehouse.lot_stock_id, 50)
        cls.example = json.loads((DATA / "idosell_order.json").read_text())
        cls.example.pop("sale_inbox_timezone")

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        self.channel.store_url = self.store.url
        self.orders = []
        self.shop = FakeIdoSell(self.store, self.orders)

    def add_order(self, serial, changed, status="on_order"):
        data = copy.deepcopy(self.example)
        data["orderSerialNumber"] = serial
        data["orderDetails"].update(orderStatus=status, orderChangeDate=wall(changed))
        self.orders.append(data)
        return data

    def poll(self):
        self.env["sale.channel"]._cron_poll_orders()

    def test_the_poll_reads_every_page_and_moves_the_watermark_after_a_complete_read(self):
        now = datetime.utcnow()
        for serial in range(1, 231):
            self.add_order(serial, now - timedelta(hours=2, minutes=serial % 50))
        self.poll()
        self.assertEqual(len(self.inbox()), 230)
        self.assertEqual(len(self.store.calls("POST", self.shop.search_path)), 3, "pages of 100")
        self.assertAlmostEqual(self.channel.poll_watermark, now, delta=timedelta(seconds=30))
        self.assertFalse(self.channel.last_error)
        # The next poll reads from the watermark, less the overlap: nothing new, nothing twice.
        watermark = self.channel.poll_watermark
        self.store.requests.clear()
        self.poll()
        dates = self.store.calls("POST", self.shop.search_path)[0].json()["params"]["ordersRange"]["ordersDateRange"]
        self.assertEqual(dates["ordersDateBegin"], wall(watermark.replace(microsecond=0) - timedelta(minutes=10)))
        self.assertEqual(len(self.inbox()), 230)

    def test_an_order_moving_between_pages_is_not_missed(self):
        now = datetime.utcnow()
        for serial in range(1, 151):
            self.add_order(serial, now - timedelta(hours=1))

        def modified_meanwhile():
            self.orders[3]["orderDetails"]["orderChangeDate"] = wall(now + timedelta(hours=1))
        self.shop.on_page[1] = modified_meanwhile
        self.poll()
        self.assertEqual(len(self.inbox()), 150)

    def test_a_change_stored_late_within_the_overlap_is_found(self):
        now = datetime.utcnow()
        self.channel.poll_watermark = now - timedelta(minutes=1)
        self.add_order(9, now - timedelta(minutes=6))  # older than the watermark, inside the overlap
        self.add_order(8, now - timedelta(minutes=30))  # read by an earlier poll
        self.poll()
        self.assertEqual(self.inbox().mapped("external_id"), ["9"])

    def test_a_failing_shop_is_shown_on_the_channel_and_keeps_the_watermark(self):
        self.channel.write({"api_secret": "wrong", "poll_watermark": datetime(2026, 11, 1)})
        self.poll()
        self.assertIn("401", self.channel.last_error)
        self.assertEqual(self.channel.poll_watermark, datetime(2026, 11, 1))

    def test_statuses_go_both_ways(self):
        self.channel.status_sync = "both"
        now = datetime.utcnow()
        order = self.add_order(4521, now - timedelta(minutes=30), status="on_order")
        self.poll()
        self.process()
        so = self.inbox().sale_order_id
        self.assertEqual((so.state, so.store_status), ("sale", "on_order"))
        # Packed in the shop: Odoo has nothing to do for it (which lines?), and says so.
        order["orderDetails"].update(orderStatus="packed", orderChangeDate=wall(now - timedelta(minutes=2)))
        self.poll()
        self.process()
        self.assertEqual(so.store_status, "packed")
        self.assertEqual(so.delivery_status, "pending")
        # Delivered in Odoo: the shop is told "finished".
        picking = so.picking_ids
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking.button_validate()
        self.env["sale.channel.outbox"]._cron_send()
        self.assertEqual(self.shop.statuses, [(4521, "finished")])
        self.assertEqual(so.store_status, "finished")
        # The shop's own echo of that change comes back by the poll and changes nothing.
        self.assertEqual(order["orderDetails"]["orderStatus"], "finished")
        self.poll()
        self.process()
        self.assertEqual(len(self.shop.statuses), 1)

    def test_finished_in_the_shop_delivers_in_odoo(self):
        self.channel.status_sync = "from_store"
        order = self.add_order(4522, datetime.utcnow() - timedelta(minutes=30))
        self.poll()
        self.process()
        so = self.inbox().sale_order_id
        order["orderDetails"].update(orderStatus="finished", orderChangeDate=wall(datetime.utcnow()))
        self.poll()
        self.process()
        self.assertEqual(so.delivery_status, "full")

    def test_stock_goes_by_external_code_to_the_stock_id(self):
        sent = []

        def stock(request):
            sent.extend(request.json()["params"]["products"])
            return 200, {}, {"results": {"productsResults": [
                {"productSizeCodeExternal": p["productSizeCodeExternal"], "faultCode": 0} for p in sent]}}
        self.store.route("PUT", "/api/admin/v6/products/stockQuantity", handler=stock)
        self.channel.store_location = "2"
        run = self.channel._sync_stock()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(sorted((p["productSizeCodeExternal"], p["stockId"], p["productSizeQuantity"]) for p in sent),
                         [("MUG-01", 2, 50), ("TSHIRT-RED-M", 2, 50)])
