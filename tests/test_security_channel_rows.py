"""The rows a channel owns (its status outbox, store products, status mapping, store customers,
payments mapping, sync runs), its company moves and its webhook address, tried as an attacker
would: over the model's own methods, as a manager of another company, not through a form.

Odoo checks the record rules of a write on the records as they are before it: a row of one's
own channel, written with ``channel_id`` set to another company's channel, would pass them."""
import importlib.util
from pathlib import Path

from lxml import etree
from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import InboxFixtures

MIGRATION = Path(__file__).parent.parent / "migrations" / "18.0.1.2.0" / "pre-migrate.py"


@tagged("post_install", "-at_install")
class TestSecurityChannelRows(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        env = cls.env
        cls.user = new_test_user(env, "rows_user", groups="sale_inbox.group_sale_inbox_user")
        cls.manager = new_test_user(env, "rows_manager", groups="sale_inbox.group_sale_inbox_manager")
        cls.company_two = env["res.company"].create({"name": "Company Two"})
        cls.manager_two = new_test_user(
            env, "rows_manager_two", groups="sale_inbox.group_sale_inbox_manager",
            company_id=cls.company_two.id, company_ids=[Command.set(cls.company_two.ids)])
        # Company one's store (the victim) and company two's (the attacker's own).
        cls.woo = env["sale.channel"].create({
            "name": "Woo", "platform": "woocommerce", "store_url": "https://woo.example",
            "api_login": "ck_one", "api_secret": "cs_one"})
        cls.woo_two = env["sale.channel"].create({
            "name": "Two's Woo", "platform": "woocommerce", "company_id": cls.company_two.id,
            "store_url": "https://two.example", "api_login": "ck_two", "api_secret": "cs_two"})
        partner_two = env["res.partner"].create({"name": "Picked by the attacker", "company_id": cls.company_two.id})
        order_two = env["sale.order"].create({"partner_id": partner_two.id, "company_id": cls.company_two.id})
        cls.own_rows = {
            "sale.channel.outbox": env["sale.channel.outbox"].create({
                "channel_id": cls.woo_two.id, "sale_order_id": order_two.id, "external_id": "77",
                "store_status": "completed", "state": "sent"}),
            "sale.channel.partner": env["sale.channel.partner"].create({
                "channel_id": cls.woo_two.id, "external_id": "cust-17", "partner_id": partner_two.id}),
            "sale.channel.product": env["sale.channel.product"].create({
                "channel_id": cls.woo_two.id, "sku": "SI-MUG", "remote_id": "11", "state": "mapped"}),
            "sale.channel.status.map": cls.woo_two.status_map_ids[:1],
            "sale.channel.payment.method": env["sale.channel.payment.method"].create({
                "channel_id": cls.woo_two.id, "code": "cod", "name": "Cash", "means_paid": False}),
            "sale.channel.sync": env["sale.channel.sync"].create({"channel_id": cls.woo_two.id, "trigger": "manual"}),
        }

    # ------------------------------------------------------------------
    # A channel's rows stay on their channel
    # ------------------------------------------------------------------

    def test_outbox_message_cannot_be_moved_onto_another_companys_channel(self):
        """The attack as reported: the send job would tell company one's store that its order
        is cancelled, with company one's credentials."""
        message = self.own_rows["sale.channel.outbox"]
        with self.assertRaises(AccessError):
            message.with_user(self.manager_two).write({
                "channel_id": self.woo.id, "external_id": "5821", "store_status": "cancelled", "state": "pending"})
        self.assertEqual((message.channel_id, message.external_id, message.state), (self.woo_two, "77", "sent"))

    def test_store_customer_cannot_be_moved_onto_another_companys_channel(self):
        """Company one's customer 'cust-17' would become the attacker's contact on company
        one's next orders."""
        link = self.own_rows["sale.channel.partner"]
        with self.assertRaises(AccessError):
            link.with_user(self.manager_two).write({"channel_id": self.woo.id})
        self.assertEqual(link.channel_id, self.woo_two)
        self.assertFalse(self.env["sale.channel.partner"].search([("channel_id", "=", self.woo.id)]))

    def test_store_product_cannot_be_moved_onto_another_companys_channel(self):
        """The row would push the attacker's figure to company one's store."""
        row = self.own_rows["sale.channel.product"]
        with self.assertRaises(AccessError):
            row.with_user(self.manager_two).write({"channel_id": self.woo.id, "remote_id": "99"})
        self.assertEqual((row.channel_id, row.remote_id), (self.woo_two, "11"))

    def test_no_row_of_a_channel_changes_channel(self):
        """Every model a channel owns: its rows never change channel for people, whatever the
        channel (one's own other channel included); the superuser's code may."""
        own_other = self.env["sale.channel"].create({
            "name": "Two's second shop", "platform": "woocommerce", "company_id": self.company_two.id})
        for model, row in self.own_rows.items():
            for target in (self.woo, own_other):
                with self.subTest(model=model, target=target.name), self.assertRaises(AccessError):
                    row.with_user(self.manager_two).write({"channel_id": target.id})
            self.assertEqual(row.channel_id, self.woo_two, model)
            # Writing the channel it already has changes nothing (an import of exported rows).
            if model != "sale.channel.outbox":
                row.with_user(self.manager_two).write({"channel_id": self.woo_two.id})

    def test_rows_are_created_only_on_a_channel_the_user_may_change(self):
        for model, values in (
            ("sale.channel.partner", {"external_id": "new", "partner_id": self.env.user.partner_id.id}),
            ("sale.channel.product", {"sku": "NEW"}),
            ("sale.channel.payment.method", {"code": "new", "name": "New"}),
            ("sale.channel.sync", {"trigger": "manual"}),
        ):
            with self.subTest(model=model), self.assertRaises(AccessError):
                self.env[model].with_user(self.manager_two).create({"channel_id": self.woo.id, **values})
            self.env[model].with_user(self.manager_two).create({"channel_id": self.woo_two.id, **values})

    def test_outbox_is_written_by_the_addon_only(self):
        """Messages are written by the sales orders and the send job; people only read them,
        and Retry or Don't Send them (managers)."""
        message = self.own_rows["sale.channel.outbox"]
        manager = self.manager_two
        with self.assertRaises(AccessError):
            message.with_user(manager).write({"store_status": "cancelled", "state": "pending"})
        with self.assertRaises(AccessError):
            self.env["sale.channel.outbox"].with_user(manager).create({
                "channel_id": self.woo_two.id, "sale_order_id": message.sale_order_id.id, "external_id": "78",
                "store_status": "cancelled"})
        self.assertEqual((message.store_status, message.state), ("completed", "sent"))
        message.state = "failed"
        message.with_user(manager).action_retry()
        self.assertEqual(message.state, "pending")
        message.with_user(manager).action_cancel()
        self.assertEqual(message.state, "cancelled")

    # ------------------------------------------------------------------
    # A channel moved between companies
    # ------------------------------------------------------------------

    def _manager_of_both(self):
        self.manager.company_ids = [Command.link(self.company_two.id)]
        return self.manager.with_context(allowed_company_ids=[self.company.id, self.company_two.id])

    def test_channel_with_inbox_orders_is_not_moved(self):
        """Its orders (and their sales orders) would stay in the old company, and fail when
        processed."""
        self.receive(self.order_data("M1"))
        self.card.unlink()  # its journal is company one's: that move is refused for its own reason
        manager = self._manager_of_both()
        with self.assertRaisesRegex(UserError, "inbox orders"):
            self.channel.with_user(manager).write({"company_id": self.company_two.id})
        self.assertEqual(self.channel.company_id, self.company)

    def test_channel_with_store_customers_is_not_moved(self):
        self.env["sale.channel.partner"].create({
            "channel_id": self.woo.id, "external_id": "c1", "partner_id": self.env.user.partner_id.id})
        manager = self._manager_of_both()
        with self.assertRaisesRegex(UserError, "store customers"):
            self.woo.with_user(manager).write({"company_id": self.company_two.id})
        self.assertEqual(self.woo.company_id, self.company)
        # Written again with its own company, it does not move: nothing to refuse.
        self.woo.with_user(manager).write({"company_id": self.company.id, "name": "Woo One"})

    # ------------------------------------------------------------------
    # The webhook address
    # ------------------------------------------------------------------

    def test_webhook_token_is_not_written_by_people(self):
        """A manager could give their channel another channel's webhook address (two channels,
        one URL) or a guessable one."""
        token = self.woo.webhook_token
        for values in ({"webhook_token": self.woo_two.webhook_token}, {"webhook_token": "guessable"}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                self.woo.with_user(self.manager).write(values)
        self.assertEqual(self.woo.webhook_token, token)
        with self.assertRaises(AccessError):
            self.env["sale.channel"].with_user(self.manager).create({
                "name": "Copycat", "platform": "woocommerce", "webhook_token": self.woo_two.webhook_token})

    @mute_logger("odoo.sql_db")
    def test_two_channels_never_share_a_webhook_token(self):
        with self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.woo.webhook_token = self.woo_two.webhook_token
            self.env.flush_all()

    def test_new_webhook_address(self):
        """Managers change the address with an action; the old one stops at once."""
        old = self.woo.webhook_token
        Channel = self.env["sale.channel"]
        self.assertEqual(Channel._find_by_webhook_token(old), self.woo)
        with self.assertRaises(AccessError):
            self.woo.with_user(self.user).action_new_webhook_token()
        with self.assertRaises(AccessError):
            self.woo.with_user(self.manager_two).action_new_webhook_token()
        self.assertEqual(self.woo.webhook_token, old)
        self.woo.with_user(self.manager).action_new_webhook_token()
        self.assertNotEqual(self.woo.webhook_token, old)
        self.assertFalse(Channel._find_by_webhook_token(old))
        self.assertEqual(Channel._find_by_webhook_token(self.woo.webhook_token), self.woo)

    @mute_logger("odoo.sql_db")
    def test_migration_gives_shared_tokens_new_ones(self):
        """A database where a manager gave two channels another's token: the oldest channel
        keeps it, the others get new ones and say so (their store must be given the new URL)."""
        spec = importlib.util.spec_from_file_location("sale_inbox_pre_migrate_1_2", MIGRATION)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        cr = self.env.cr
        shared = self.woo.webhook_token
        self.env.flush_all()
        # The database as it was before the constraint (the test's rollback restores it).
        cr.execute("ALTER TABLE sale_channel DROP CONSTRAINT sale_channel_webhook_token_unique")
        cr.execute("UPDATE sale_channel SET webhook_token = %s WHERE id IN %s",
                   (shared, (self.woo_two.id, self.channel.id)))
        migration.migrate(cr, "18.0.1.1.0")
        cr.execute("SELECT webhook_token FROM sale_channel GROUP BY webhook_token HAVING count(*) > 1")
        self.assertFalse(cr.fetchall())
        self.env.invalidate_all()
        self.assertEqual(self.channel.webhook_token, shared, "the oldest channel keeps its address")
        self.assertFalse(self.channel.last_error)
        for channel in self.woo | self.woo_two:
            self.assertNotEqual(channel.webhook_token, shared)
            self.assertGreaterEqual(len(channel.webhook_token), 32)
            self.assertIn("Webhook URL", channel.last_error)
            self.assertEqual(channel.connection_status, "error")

    # ------------------------------------------------------------------
    # The views match the server
    # ------------------------------------------------------------------

    def _buttons(self, model, view_type, user):
        arch = self.env[model].with_user(user).get_views([(False, view_type)])["views"][view_type]["arch"]
        return etree.fromstring(arch).xpath("//button[@type='object' or @type='action']")

    def test_every_button_a_user_sees_is_one_they_may_press(self):
        """A button shown to a user is not refused to them with an AccessError: the views hide
        what the server refuses (Connect and Disconnect were shown)."""
        self.receive(self.order_data("B1"))
        targets = {
            ("sale.channel", "form"): self.woo, ("sale.channel", "list"): self.woo,
            ("sale.channel.outbox", "list"): None, ("sale.channel.product", "list"): None,
        }
        for (model, view_type), record in targets.items():
            for button in self._buttons(model, view_type, self.user):
                name = button.get("name")
                with self.subTest(model=model, view=view_type, button=name):
                    if button.get("type") == "action":
                        action = self.env["ir.actions.act_window"].browse(int(name))
                        self.assertTrue(self.env[action.res_model].with_user(self.user).has_access("create"),
                                        f"{name} opens a wizard the user may not create")
                        continue
                    target = record.with_user(self.user) if record else \
                        self.env[model].with_user(self.user).search([], limit=1)
                    if not target:
                        continue
                    try:
                        with self.env.cr.savepoint():
                            getattr(target, name)()
                    except UserError as exc:
                        if isinstance(exc, AccessError):
                            self.fail(f"{model}.{name} is shown to users and refused to them: {exc}")

    def test_managers_still_see_the_manager_buttons(self):
        names = {button.get("name") for button in self._buttons("sale.channel", "form", self.manager)}
        for name in ("action_connect", "action_disconnect", "action_test_connection", "action_new_webhook_token",
                     "action_regenerate_api_key", "action_propose_status_map"):
            self.assertIn(name, names)
        user_names = {button.get("name") for button in self._buttons("sale.channel", "form", self.user)}
        self.assertIn("action_process_now", user_names)
        self.assertIn("action_view_inbox", user_names)
