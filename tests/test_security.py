from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestSecurity(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.user = new_test_user(cls.env, "inbox_user", groups="sale_inbox.group_sale_inbox_user")
        cls.manager = new_test_user(cls.env, "inbox_manager", groups="sale_inbox.group_sale_inbox_manager")
        cls.salesman = new_test_user(cls.env, "plain_salesman", groups="sales_team.group_sale_salesman")
        cls.other_channel = cls.env["sale.channel"].create({
            "name": "Other company's shop", "company_id": cls.other_company.id,
        })

    def test_api_key_is_readable_by_managers_only(self):
        channel = self.channel.with_user(self.user)
        self.assertEqual(channel.name, "Test shop")
        with self.assertRaises(AccessError):
            channel.read(["api_key"])
        self.assertTrue(self.channel.with_user(self.manager).api_key)

    def test_users_cannot_configure_channels(self):
        with self.assertRaises(AccessError):
            self.channel.with_user(self.user).write({"name": "Renamed"})
        self.channel.with_user(self.manager).write({"name": "Renamed"})

    def test_only_inbox_groups_see_the_inbox(self):
        self.receive(self.order_data())
        with self.assertRaises(AccessError):
            self.env["sale.inbox.order"].with_user(self.salesman).search([])
        self.assertEqual(len(self.env["sale.inbox.order"].with_user(self.user).search([])), 1)

    def test_users_correct_nothing_only_managers_do(self):
        inbox = self.receive(self.order_data())
        with self.assertRaises(UserError):
            inbox.with_user(self.user).normalized = inbox.normalized.replace("69.58", "1")

    def test_multi_company_rules(self):
        manager = self.manager
        manager.write({"company_ids": [Command.link(self.other_company.id)]})
        in_main = self.env["sale.channel"].with_user(manager).with_company(self.company).search([])
        self.assertIn(self.channel, in_main)
        self.assertNotIn(self.other_channel, in_main)
        both = self.env["sale.channel"].with_user(manager).with_context(
            allowed_company_ids=[self.company.id, self.other_company.id]).search([])
        self.assertIn(self.other_channel, both)
        # An order of the other company's channel stays in that company.
        other_order = self.receive(self.order_data("X1"), channel=self.other_channel)
        self.assertEqual(other_order.company_id, self.other_company)
        self.assertNotIn(other_order, self.env["sale.inbox.order"].with_user(self.user).search([]))

    def test_every_model_of_the_addon_has_access_rules_and_a_company_rule(self):
        models = self.env["ir.model"].search([("modules", "ilike", "sale_inbox"), ("transient", "=", False)])
        abstract = {"sale.channel.stock", "sale.inbox.processor", "sale.inbox.job"}
        for model in models.filtered(lambda m: m.model.startswith(("sale.channel", "sale.inbox"))):
            if model.model in abstract:
                continue
            self.assertTrue(self.env["ir.model.access"].search([("model_id", "=", model.id)]), model.model)
            rules = self.env["ir.rule"].search([("model_id", "=", model.id)])
            self.assertTrue(rules, f"no company rule: {model.model}")

    def test_status_mapping_and_outbox_are_read_by_users_changed_by_managers(self):
        self.channel.platform = "woocommerce"
        mapping = self.channel.status_map_ids[:1]
        self.assertEqual(mapping.with_user(self.user).store_status, "pending")
        with self.assertRaises(AccessError):
            mapping.with_user(self.user).write({"store_status": "paid"})
        mapping.with_user(self.manager).write({"store_status": mapping.store_status})
        order = self.env["sale.order"].create({"partner_id": self.env.user.partner_id.id})
        message = self.env["sale.channel.outbox"].create({
            "channel_id": self.other_channel.id, "sale_order_id": order.id, "external_id": "1",
            "store_status": "open"})
        self.assertFalse(self.env["sale.channel.outbox"].with_user(self.user).search([("id", "=", message.id)]),
                         "another company's outbox stays in that company")
        with self.assertRaises(AccessError):
            self.env["sale.channel.outbox"].with_user(self.salesman).search([])

    def test_a_salesman_confirming_a_store_order_writes_the_outbox_without_channel_rights(self):
        self.channel.write({"platform": "woocommerce", "status_sync": "to_store"})
        inbox = self.receive(self.order_data("S1"))
        order = self.env["sale.order"].create({
            "partner_id": self.env.user.partner_id.id, "channel_id": self.channel.id, "inbox_order_id": inbox.id,
            "store_status": "pending", "user_id": self.salesman.id,
            "order_line": [Command.create({"product_id": self.mug.id})]})
        inbox.write({"sale_order_id": order.id})  # status sync speaks for an order linked back only
        order.with_user(self.salesman).action_confirm()
        self.assertEqual(order.outbox_ids.store_status, "processing")

    def test_inbox_people_open_the_documents_processing_made(self):
        """The inbox links its sales order and invoice: whoever works the inbox opens them,
        whoever the salesperson is (processing runs as OdooBot; a quotation nobody owns)."""
        inbox = self.receive(self.order_data("D1"))
        self.run_cron()
        self.assertEqual(inbox.state, "done")
        self.assertTrue(inbox.sale_order_id and inbox.invoice_id)
        self.assertNotIn(inbox.sale_order_id.user_id, self.user | self.manager)
        for person in (self.user, self.manager):
            mine = inbox.with_user(person)
            self.assertEqual(mine.sale_order_id.with_user(person).read(["name"])[0]["name"], inbox.sale_order_id.name)
            self.assertEqual(mine.invoice_id.with_user(person).read(["name"])[0]["name"], inbox.invoice_id.name)
            mine.action_view_sale_order()
