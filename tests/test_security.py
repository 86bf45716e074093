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
