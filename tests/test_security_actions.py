"""Issue 10, holes 2 and 3 (channel side), tried as an attacker would: the channel's actions
called by a Sales Inbox User over RPC (not through a form that hides the button), and a
manager of one company reaching another company's channel.

Every store call goes to a fake store that records each request it gets: an action refused
must be refused before the store hears of it."""
from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from .common import StockFixtures

USER = "inbox_user_actions"
MANAGER_TWO = "inbox_manager_two"


@tagged("post_install", "-at_install")
class TestSecurityActions(StockFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_stock()
        env = cls.env
        cls.user = new_test_user(env, USER, groups="sale_inbox.group_sale_inbox_user")
        cls.manager = new_test_user(env, "inbox_manager_actions", groups="sale_inbox.group_sale_inbox_manager")
        cls.woo = env["sale.channel"].create({
            "name": "Woo", "platform": "woocommerce", "store_url": "https://woo.example",
            "api_login": "ck_test", "api_secret": "cs_test", "webhook_secret": "wc-secret",
        })
        cls.mozello = env["sale.channel"].create({
            "name": "Mozello", "platform": "mozello", "api_secret": "MZL-key", "store_url": "https://mozello.example",
        })
        cls.woo_row = env["sale.channel.product"].create({
            "channel_id": cls.woo.id, "product_id": cls.mug.id, "sku": "SI-MUG", "remote_id": "11",
            "state": "mapped", "differs": True})
        order = env["sale.order"].create({"partner_id": env.user.partner_id.id})
        cls.outbox = env["sale.channel.outbox"].create({
            "channel_id": cls.woo.id, "sale_order_id": order.id, "external_id": "5821",
            "store_status": "completed", "state": "failed"})
        # A second company, its manager in that company only, and its channel.
        cls.company_two = env["res.company"].create({"name": "Company Two"})
        cls.manager_two = new_test_user(
            env, MANAGER_TWO, groups="sale_inbox.group_sale_inbox_manager",
            company_id=cls.company_two.id, company_ids=[Command.set(cls.company_two.ids)])
        cls.channel_two = env["sale.channel"].create({
            "name": "Company Two's shop", "platform": "woocommerce", "company_id": cls.company_two.id,
            "store_url": "https://two.example", "api_login": "ck_two", "api_secret": "cs_two",
        })

    def setUp(self):
        super().setUp()
        self.store = self.start_store()
        (self.woo | self.mozello | self.channel_two).write({"store_url": self.store.url})

    def assertNoStoreRequest(self):
        self.assertEqual([(r.method, r.path) for r in self.store.requests], [],
                         "a refused action must not reach the store")

    # ------------------------------------------------------------------
    # Hole 2: the buttons only hidden from users
    # ------------------------------------------------------------------

    def test_user_cannot_register_the_webhook(self):
        with self.assertRaises(AccessError):
            self.mozello.with_user(self.user).action_register_webhook()
        self.assertNoStoreRequest()

    def test_user_cannot_test_the_connection(self):
        with self.assertRaises(AccessError):
            self.woo.with_user(self.user).action_test_connection()
        self.assertNoStoreRequest()
        self.assertFalse(self.woo.last_connection_check)

    def test_user_cannot_read_payment_methods(self):
        with self.assertRaises(AccessError):
            self.woo.with_user(self.user).action_read_payment_methods()
        self.assertNoStoreRequest()

    def test_user_cannot_reconcile(self):
        with self.assertRaises(AccessError):
            self.woo.with_user(self.user).action_reconcile()
        self.assertNoStoreRequest()

    def test_no_manager_action_runs_for_a_user_not_even_partly(self):
        """Every manager action is refused to a user with AccessError before anything else: not
        a UserError of the action's own checks (which tells the user about the channel), no
        request, no change. The Connect channel takes no stock and has no API: an action that
        checked the group after its own checks would answer with a UserError."""
        connect = self.channel
        actions = [
            (connect, "action_sync_now"), (self.woo, "action_sync_now"),
            (connect, "action_reconcile"), (connect, "action_test_connection"),
            (connect, "action_register_webhook"), (connect, "action_read_payment_methods"),
            (self.woo, "action_connect"), (self.woo, "action_disconnect"),
            (self.woo, "action_regenerate_api_key"), (self.woo, "action_propose_status_map"),
            (self.woo_row, "action_push_odoo_quantity"),
            (self.outbox, "action_retry"), (self.outbox, "action_cancel"),
        ]
        for record, action in actions:
            with self.subTest(model=record._name, action=action, platform=record._name == "sale.channel"
                              and record.platform), self.assertRaises(AccessError):
                getattr(record.with_user(self.user), action)()
        self.assertNoStoreRequest()
        self.assertEqual((self.woo.state, self.woo.sync_requested, self.outbox.state),
                         ("connected", False, "failed"))

    def test_user_cannot_open_import_orders(self):
        with self.assertRaises(AccessError):
            self.env["sale.channel.import"].with_user(self.user).create({"channel_id": self.woo.id})
        # A wizard a manager left, run by a user: refused by the action's own group check (not
        # only by the channel's further down). Read through sudo first, as in the test below.
        wizard = self.env["sale.channel.import"].create({"channel_id": self.woo.id, "days": 3})
        with self.assertRaises(AccessError) as caught:
            wizard.read(["channel_id", "days"])
            wizard.with_user(self.user).action_import()
        self.assertIn("(Import Orders from a Store)", str(caught.exception))
        self.assertNoStoreRequest()

    def test_manager_still_reaches_the_store(self):
        """The control: the same actions by a manager do call the fake store."""
        self.store.route("PUT", "/store/notifications/", json={"error": False})
        self.mozello.with_user(self.manager).action_register_webhook()
        self.assertEqual(len(self.store.calls("PUT", "/store/notifications/")), 1)
        self.woo.with_user(self.manager).action_test_connection()
        self.assertTrue(self.woo.last_connection_check)

    def test_user_keeps_what_a_salesperson_needs(self):
        """Users work the inbox: Process Now, the channel's inbox, outbox and store products."""
        self.receive(self.order_data("U1"))
        channel = self.channel.with_user(self.user)
        result = channel.action_process_now()
        self.assertEqual(self.env["sale.inbox.order"].search([("external_id", "=", "U1")]).state, "done")
        self.assertEqual((result["tag"], result["params"]["type"]), ("display_notification", "success"))
        # Nothing left: a message, not an error dialog.
        result = channel.action_process_now()
        self.assertEqual((result["params"]["type"], result["params"]["message"]),
                         ("info", "Nothing to process: no new orders wait in this channel's inbox."))
        self.assertEqual(channel.action_view_inbox()["domain"], [("channel_id", "=", self.channel.id)])
        channel.action_view_outbox()
        channel.action_view_store_products()

    def test_user_cannot_process_another_companys_channel(self):
        self.receive(self.order_data("T1"), channel=self.channel_two)
        user = self.user
        with self.assertRaises(AccessError):
            self.channel_two.with_user(user).action_process_now()
        self.assertEqual(self.env["sale.inbox.order"].search([("external_id", "=", "T1")]).state, "new")

    def test_user_registering_the_webhook_over_json_rpc_is_refused(self):
        """The attack as it was made: the button is hidden, the method is called over RPC."""
        self.authenticate(USER, USER)
        with self.assertRaises(JsonRpcException) as caught:
            self.make_jsonrpc_request("/web/dataset/call_kw", {
                "model": "sale.channel", "method": "action_register_webhook",
                "args": [[self.mozello.id]], "kwargs": {}})
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertNoStoreRequest()

    # ------------------------------------------------------------------
    # Hole 3, the channel's side: a manager of company two and company one's channels
    # ------------------------------------------------------------------

    def test_other_companys_manager_cannot_import_orders_of_a_channel(self):
        # The channel as the jobs and the form read it, in the transaction's shared cache.
        self.woo.sudo()._credentials()
        self.woo.read(["platform", "company_id", "state"])
        with self.assertRaises(AccessError):
            wizard = self.env["sale.channel.import"].with_user(self.manager_two).create(
                {"channel_id": self.woo.id, "days": 3})
            wizard.action_import()
        self.assertNoStoreRequest()

    def test_import_orders_checks_its_own_channel_first(self):
        """The wizard's own check, reached: a wizard on company one's channel (left by the
        form, or moved there) run by company two's manager is refused by ``action_import``
        itself (an AccessError on the wizard, not on the channel further down), before any
        request. The wizard is read first through ``sudo()`` in the same transaction, as the
        form's own reads may leave it, so the ORM does not read it again through the record
        rules on the way: only the action's check stands (else the channel's, further down)."""
        wizard = self.env["sale.channel.import"].create({"channel_id": self.woo.id, "days": 3})
        with self.assertRaises(AccessError) as caught:
            wizard.read(["channel_id", "days"])  # assertRaises empties the cache: filled again
            wizard.with_user(self.manager_two).action_import()
        self.assertIn("(sale.channel.import)", str(caught.exception))
        self.assertNoStoreRequest()
        # Nor can they move their own wizard onto company one's channel.
        own = self.env["sale.channel.import"].with_user(self.manager_two).create(
            {"channel_id": self.channel_two.id, "days": 3})
        with self.assertRaises(AccessError):
            own.write({"channel_id": self.woo.id})
        self.assertEqual(own.channel_id, self.channel_two)
        self.assertNoStoreRequest()

    def test_other_companys_manager_cannot_import_orders_over_json_rpc(self):
        self.authenticate(MANAGER_TWO, MANAGER_TWO)
        with self.assertRaises(JsonRpcException) as caught:
            wizard_id = self.make_jsonrpc_request("/web/dataset/call_kw", {
                "model": "sale.channel.import", "method": "create",
                "args": [{"channel_id": self.woo.id, "days": 3}], "kwargs": {}})
            self.make_jsonrpc_request("/web/dataset/call_kw", {
                "model": "sale.channel.import", "method": "action_import",
                "args": [[wizard_id]], "kwargs": {}})
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertNoStoreRequest()
        # Their own channel they import from.
        self.store.route("GET", "/wp-json/wc/v3/orders", headers={"X-WP-TotalPages": "1"}, json=[])
        wizard_id = self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": "sale.channel.import", "method": "create",
            "args": [{"channel_id": self.channel_two.id, "days": 3}], "kwargs": {}})
        self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": "sale.channel.import", "method": "action_import", "args": [[wizard_id]], "kwargs": {}})
        self.assertEqual(len(self.store.calls("GET", "/wp-json/wc/v3/orders")), 1)

    def test_other_companys_manager_cannot_run_actions_of_a_channel(self):
        manager = self.manager_two
        for action in ("action_test_connection", "action_sync_now", "action_reconcile"):
            with self.subTest(action=action), self.assertRaises(AccessError):
                getattr(self.woo.with_user(manager), action)()
        with self.assertRaises(AccessError):
            self.mozello.with_user(manager).action_register_webhook()
        self.assertNoStoreRequest()

    def test_manager_cannot_move_a_channel_into_a_company_they_are_not_in(self):
        with self.assertRaises(AccessError):
            self.channel_two.with_user(self.manager_two).write({"company_id": self.company.id})
        self.assertEqual(self.channel_two.company_id, self.company_two)
        with self.assertRaises(AccessError):
            self.env["sale.channel"].with_user(self.manager_two).create(
                {"name": "Planted", "company_id": self.company.id})
        # A manager of both companies may move a channel between them.
        self.manager.company_ids = [Command.link(self.company_two.id)]
        self.channel_two.with_user(self.manager).with_context(
            allowed_company_ids=[self.company.id, self.company_two.id]).write({"company_id": self.company.id})
        self.assertEqual(self.channel_two.company_id, self.company)

    def test_channel_relations_stay_in_the_channels_company(self):
        manager = self.manager_two
        warehouse_one = self.warehouse
        pricelist_one = self.env["product.pricelist"].create({"name": "One", "company_id": self.company.id})
        team_one = self.env["crm.team"].create({"name": "One's team", "company_id": self.company.id})
        for values in ({"warehouse_id": warehouse_one.id}, {"stock_warehouse_ids": [Command.set(warehouse_one.ids)]},
                       {"pricelist_id": pricelist_one.id}, {"sync_pricelist_id": pricelist_one.id},
                       {"team_id": team_one.id}, {"user_id": self.user.id}):
            with self.subTest(values=values), self.assertRaises(UserError):
                self.channel_two.with_user(manager).write(values)
        journal_one = self.bank
        with self.assertRaises(UserError):
            self.env["sale.channel.payment.method"].with_user(manager).create({
                "channel_id": self.channel_two.id, "code": "card", "name": "Card", "journal_id": journal_one.id})

    def test_moving_a_channel_checks_its_payments_mapping(self):
        """A channel moved into another company would pay its orders into the old company's
        journal: the move is refused while the mapping names it."""
        self.manager.company_ids = [Command.link(self.company_two.id)]
        woo = self.woo.with_user(self.manager).with_context(
            allowed_company_ids=[self.company.id, self.company_two.id])
        self.env["sale.channel.payment.method"].create({
            "channel_id": self.woo.id, "code": "card", "name": "Card", "journal_id": self.bank.id})
        with self.assertRaises(UserError):
            woo.write({"company_id": self.company_two.id})
