"""Browser tours: what people do in the Sales Inbox, clicked through in Chromium
(static/tests/tours/). A tour that cannot run fails: Odoo itself skips every browser test
without a word when Chromium or the websocket-client package is missing."""
import unittest

from odoo import Command, http
from odoo.tests import HttpCase, tagged

from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import InboxFixtures

#: Seconds a whole tour may take (Odoo's default, 60, is short on a busy 2-core machine).
TOUR_TIMEOUT = 180


@tagged("post_install", "-at_install")
class TestTours(InboxFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        # The server reads every manifest the first time a static file is asked for; the
        # browser asks for several at once, and Python 3.11 before 3.11.8 may then fail
        # compiling in two threads at once ("AST constructor recursion depth mismatch").
        # Read them here, in one thread.
        http.root.statics  # noqa: B018 (a lazy property: reading it is the point)

    def make_user(self, login, *groups):
        return self.env["res.users"].create({
            "name": login.replace("-", " ").title(), "login": login, "password": login,
            "email": f"{login}@example.com",
            "groups_id": [Command.set([self.env.ref(group).id for group in groups])],
        })

    def browser_js(self, *args, **kwargs):
        # Odoo raises SkipTest when it finds no Chromium, no websocket-client or no DevTools
        # connection: here that is a failure, so that a run without a browser is red.
        try:
            return super().browser_js(*args, **kwargs)
        except unittest.SkipTest as exc:
            self.fail(f"The browser tour could not run: {exc}. Install Chromium (apt-get install "
                      f"chromium) and websocket-client (tools/common.sh puts it in the virtualenv).")

    def test_a_new_user_reaches_the_inbox_from_the_home_screen(self):
        user = self.make_user("tour-inbox-user", "sale_inbox.group_sale_inbox_user")
        self.receive(self.order_data("TOUR-1001", number="TOUR-1001"))
        self.start_tour("/odoo", "sale_inbox_reach_inbox", login=user.login, timeout=TOUR_TIMEOUT)

    def test_an_admin_sets_up_a_woocommerce_channel(self):
        store = FakeStore()
        store.route("GET", "/wp-json/wc/v3/orders", json=[])
        store.route("GET", "/wp-json/wc/v3/payment_gateways", json=[
            {"id": "stripe", "title": "Credit card", "enabled": True},
            {"id": "cod", "title": "Cash on delivery", "enabled": True},
            {"id": "cheque", "title": "Check payments", "enabled": False}])
        store.start()
        self.addCleanup(store.stop)
        self.bank.name = "Tour Bank"
        self.start_tour("/odoo/action-sale_inbox.sale_channel_action", "sale_inbox_woocommerce_setup",
                        login="admin", cookies={"sale_inbox_tour_store": store.url}, timeout=TOUR_TIMEOUT)
        channel = self.env["sale.channel"].search([("name", "=", "Tour WooCommerce")])
        self.assertEqual((len(channel), channel.platform, channel.store_url),
                         (1, "woocommerce", store.url))
        methods = {m.code: m for m in channel.payment_method_ids}
        self.assertEqual(sorted(methods), ["cod", "stripe"], "the store's enabled gateways were read")
        self.assertEqual(methods["stripe"].journal_id, self.bank, "the card method was mapped in the tour")
        self.assertFalse(methods["cod"].means_paid)
        self.assertTrue(store.calls("GET", "/wp-json/wc/v3/orders"), "Test Connection asked the store")
        self.assertEqual((channel.setup_credentials, channel.setup_test, channel.setup_payments),
                         ("done", "done", "done"))

    def test_a_salesperson_fixes_an_order_that_needs_review(self):
        # A Sales Inbox User, not a manager: what stops the order is theirs to fix.
        user = self.make_user("tour-inbox-salesperson", "sale_inbox.group_sale_inbox_user")
        self.bank.name = "Tour Bank"
        # The product the store sells as SI-MUGG, in Odoo without an Internal Reference yet.
        travel_mug = self.env["product.product"].create({
            "name": "Travel Mug", "list_price": 12.5, "invoice_policy": "order", "taxes_id": self.mug.taxes_id.ids})
        data = self.order_data("TOUR-2001", number="TOUR-2001")
        data["lines"][0]["sku"] = "SI-MUGG"
        data["payment"].update(method="banklink", method_name="Bank link")
        inbox = self.receive(data)
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "payment_mapping"), inbox.error_message)
        self.assertEqual(sorted(inbox.problem_ids.mapped("kind")), ["method_unmapped", "sku_missing"],
                         "the review screen lists both problems at once")
        attempts = inbox.attempt_count
        self.start_tour("/odoo", "sale_inbox_fix_order", login=user.login, timeout=TOUR_TIMEOUT)
        self.env.invalidate_all()  # what the browser's requests changed
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.attempt_count, attempts + 1, "one Retry was enough")
        self.assertFalse(inbox.problem_ids)
        # Link Product made the store's SKU the product's internal reference.
        self.assertEqual(travel_mug.default_code, "SI-MUGG")
        self.assertIn(travel_mug, inbox.sale_order_id.order_line.product_id)
        self.assertEqual(self.mug.default_code, "SI-MUG")
        method = self.env["sale.channel.payment.method"].search(
            [("channel_id", "=", inbox.channel_id.id), ("code", "=", "banklink")])
        self.assertEqual(method.journal_id, self.bank, "Map Method set the journal")
