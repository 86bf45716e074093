from odoo import Command
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestMenus(TransactionCase):
    """The Sales Inbox is reachable from the main menu in a database made by the README's
    commands: Odoo 18 keeps the Sales app's root menu inactive until Sales Management is in."""

    def test_the_inbox_is_reachable_by_a_sales_inbox_user(self):
        user = self.env["res.users"].create({
            "name": "Inbox User", "login": "inbox-menu-user",
            "groups_id": [Command.set([self.env.ref("sale_inbox.group_sale_inbox_user").id])],
        })
        visible = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
        for xmlid in ("sale_inbox.menu_sale_inbox_orders", "sale_inbox.menu_sale_channel"):
            menu = self.env.ref(xmlid)
            path = []
            while menu:
                self.assertTrue(menu.active, f"{menu.complete_name} is inactive")
                self.assertIn(menu.id, visible, f"{menu.complete_name} is hidden from a Sales Inbox user")
                path.append(menu.name)
                menu = menu.parent_id
            self.assertEqual(path[-1], "Sales")
