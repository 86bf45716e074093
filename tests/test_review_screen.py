"""The review screen of an inbox order: the store's lines with the products found, every
problem of a failed order at once with the button that fixes it, what each group may press,
and Cancel leaving no orphan draft quotation."""
from unittest.mock import patch

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestReviewScreen(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        env = cls.env
        cls.user = new_test_user(env, "inbox_review_user", groups="sale_inbox.group_sale_inbox_user")
        cls.manager = new_test_user(env, "inbox_review_manager", groups="sale_inbox.group_sale_inbox_manager")
        # A foreign currency the company does not use yet, inactive, with a pricelist waiting.
        cls.nok = env.ref("base.NOK")
        cls.nok.active = False
        cls.nok_pricelist = env["product.pricelist"].create({"name": "NOK shop", "currency_id": cls.nok.id})
        # Products created by the review screen take the company's default sales tax: none
        # here, so that the store's totals below are the Odoo ones.
        cls.company.account_sale_tax_id = False
        cls.Problem = env["sale.inbox.order.problem"]

    def foreign_order(self, external_id="R1", **changes):
        """Two SKUs Odoo does not know, paid by a method nobody mapped, in NOK: 10 + 2 × 5."""
        data = self.order_data(
            external_id, currency="NOK", shipping=None, total=20.0,
            lines=[{"sku": "SI-NEW-1", "name": "Wool scarf", "quantity": 1, "unit_price": 10, "tax_rate": 21},
                   {"sku": "SI-NEW-2", "name": "Wool socks", "quantity": 2, "unit_price": 5}],
            payment={"method": "banklink", "method_name": "Bank link", "status": "paid", "amount": 20.0,
                     "transaction_id": "bl_1"},
        )
        data.update(changes)
        return data

    def kinds(self, inbox):
        return sorted((p.kind, p.sku or p.method_code or p.currency_code or "") for p in inbox.problem_ids)

    # ------------------------------------------------------------------
    # Every problem at once, each fixed by its own button
    # ------------------------------------------------------------------

    def test_every_problem_at_once_then_fixed_one_by_one_until_done(self):
        inbox = self.receive(self.foreign_order())
        self.run_cron()
        # Processing stops at the first step that fails, as ever ...
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "payment_mapping"))
        # ... and the person sees everything that is wrong after that one run.
        self.assertEqual(self.kinds(inbox), [
            ("currency_inactive", "NOK"), ("method_unmapped", "banklink"),
            ("sku_missing", "SI-NEW-1"), ("sku_missing", "SI-NEW-2"),
        ])
        self.assertFalse(inbox.payment_method_mapped)
        def problem(key):  # rewritten by every fix, as the form shows them after it
            return inbox.problem_ids.filtered(lambda p: key in (p.sku, p.kind))
        as_manager = self.env(user=self.manager)

        # Link Product: an existing product without an internal reference gets the SKU.
        scarf = self.env["product.product"].create({"name": "Scarf", "list_price": 10, "invoice_policy": "order"})
        action = problem("SI-NEW-1").with_env(as_manager).action_link_product()
        wizard = as_manager[action["res_model"]].browse(action["res_id"])
        wizard.product_id = scarf
        wizard.action_link()
        self.assertEqual(scarf.default_code, "SI-NEW-1")
        self.assertEqual(self.kinds(inbox), [
            ("currency_inactive", "NOK"), ("method_unmapped", "banklink"), ("sku_missing", "SI-NEW-2")])

        # Create Product: name and price from the store's line.
        problem("SI-NEW-2").with_env(as_manager).action_create_product()
        socks = self.env["product.product"].search([("default_code", "=", "SI-NEW-2")])
        self.assertEqual((socks.name, socks.list_price, socks.type), ("Wool socks", 5.0, "consu"))

        # Map Method: the channel's row for the method, its journal chosen in the dialog.
        action = problem("method_unmapped").with_env(as_manager).action_map_payment_method()
        method = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual((method.channel_id, method.code), (self.channel, "banklink"))
        method.with_env(as_manager).journal_id = self.bank

        # Activate Currency (an administrator: the manager here is not one).
        currency_problem = problem("currency_inactive")
        with self.assertRaises(AccessError):
            currency_problem.with_env(as_manager).action_activate_currency()
        currency_problem.action_activate_currency()
        self.assertTrue(self.nok.active)
        self.assertEqual(inbox.currency_id, self.nok)

        inbox.action_check_again()
        self.assertEqual(self.kinds(inbox), [])
        inbox.with_user(self.user).action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertEqual(inbox.sale_order_id.order_line.product_id, scarf | socks)
        self.assertEqual(inbox.payment_id.journal_id, self.bank)
        self.assertFalse(inbox.problem_ids)

    def test_missing_pricelist_and_its_button(self):
        self.nok.active = True
        self.nok_pricelist.unlink()
        inbox = self.receive(self.foreign_order("P1", lines=[
            {"sku": "SI-MUG", "name": "Enamel mug", "quantity": 1, "unit_price": 20}]))
        self.card.copy({"code": "banklink"})
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "currency"))
        self.assertEqual(self.kinds(inbox), [("pricelist_missing", "NOK")])
        with self.assertRaises(AccessError):
            inbox.problem_ids.with_user(self.user).action_create_pricelist()
        action = inbox.problem_ids.action_create_pricelist()
        self.assertEqual(action["context"]["default_currency_id"], self.nok.id)
        self.env["product.pricelist"].with_context(**action["context"]).create({})
        inbox.action_check_again()
        self.assertFalse(inbox.problem_ids)

    def test_amount_difference_is_a_problem_accepted_by_managers_only(self):
        inbox = self.receive(self.order_data("A1", total=70.00))
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("needs_review", "amount_check"))
        self.assertEqual(self.kinds(inbox), [("amount_difference", "")])
        problem = inbox.problem_ids
        with self.assertRaises(AccessError):
            problem.with_user(self.user).action_accept_difference()
        problem.with_user(self.manager).action_accept_difference()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(inbox.problem_ids)

    def test_a_fix_elsewhere_never_clears_an_error_the_checks_do_not_know(self):
        """An order stopped at the sales-document step by something no check looks for (a
        document of another origin): a fix made for other orders (a method mapped, Check
        Again) must not leave it saying "nothing left in the way"."""
        inbox = self.receive(self.order_data("F1"))
        self.run_cron()
        inbox._fail("order", "A sales order of another origin is linked.")
        inbox._refresh_problems(after_fix=True)
        self.assertEqual(self.kinds(inbox), [("other", "")])

    def test_an_error_the_checks_do_not_know_is_still_listed(self):
        self.channel.send_email = True
        inbox = self.receive(self.order_data("E1", customer={"id": "c-noemail", "name": "No Mail"}))
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "email"))
        self.assertEqual([p.kind for p in inbox.problem_ids], ["other"])
        self.assertIn("e-mail", inbox.problem_ids.message)

    def test_a_failing_problem_check_never_disturbs_processing(self):
        good = [self.receive(self.order_data(f"G{i}")) for i in range(2)]
        bad = self.receive(self.order_data("G-bad", lines=[
            {"sku": "SI-GHOST", "name": "Ghost", "quantity": 1, "unit_price": 3}]))
        Inbox = type(self.env["sale.inbox.order"])

        def broken(orders, after_fix=False):
            raise RuntimeError("problem check broken for the test")

        with patch.object(Inbox, "_check_problems", broken), self.assertLogs(
                "odoo.addons.sale_inbox.models.sale_inbox_order_review", "WARNING"):
            self.run_cron()
        self.assertEqual([o.state for o in good], ["done", "done"])
        self.assertEqual((bad.state, bad.failed_step), ("error", "products"))
        self.assertIn("SI-GHOST", bad.error_message)
        self.assertFalse(bad.problem_ids)
        bad.with_user(self.user).action_check_again()
        self.assertEqual(self.kinds(bad), [("sku_missing", "SI-GHOST")])
        self.assertFalse((good[0] | good[1]).problem_ids)

    def test_the_problem_check_is_set_based(self):
        """The check runs a fixed number of queries whatever the number of failed orders."""
        def queries(count, prefix):
            inboxes = self.env["sale.inbox.order"].browse([
                self.receive(self.foreign_order(f"{prefix}{i}")).id for i in range(count)])
            self.channel.auto_process = False
            inboxes.sudo().with_context(tracking_disable=True).write({"state": "error"})
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            inboxes.sudo()._refresh_problems()
            self.env.flush_all()
            self.assertEqual(len(inboxes.problem_ids), 4 * count)
            return self.env.cr.sql_log_count - before
        queries(1, "W")  # caches warmed up
        self.assertEqual(queries(2, "Q"), queries(12, "S"))

    # ------------------------------------------------------------------
    # The store's lines
    # ------------------------------------------------------------------

    def test_lines_show_the_products_found_and_not_found(self):
        inbox = self.receive(self.order_data("L1", lines=[
            {"sku": "SI-MUG", "name": "Enamel mug", "quantity": 2, "unit_price": 12.5, "tax_rate": 21},
            {"sku": "SI-GHOST", "name": "Ghost", "quantity": 1, "unit_price": 3},
        ]))
        self.receive(self.order_data("L2"))  # another order's lines stay its own
        lines = inbox.with_user(self.user).line_ids
        self.assertEqual([(l.sku, l.name, l.quantity, l.unit_price, l.product_state, l.product_id)
                          for l in lines], [
            ("SI-MUG", "Enamel mug", 2.0, 12.5, "found", self.mug),
            ("SI-GHOST", "Ghost", 1.0, 3.0, "missing", self.env["product.product"]),
        ])
        self.assertEqual((lines[0].tax_rate, lines[0].has_tax_rate, lines[1].has_tax_rate), (21.0, True, False))
        # Read again by id (a button on a line): the same rows.
        self.env.invalidate_all()
        again = self.env["sale.inbox.order.line"].with_user(self.user).browse(lines.ids)
        self.assertEqual(again.mapped("sku"), ["SI-MUG", "SI-GHOST"])
        # Created from its line, the product is found there.
        lines[1].with_user(self.manager).action_create_product()
        self.env.invalidate_all()
        self.assertEqual(inbox.line_ids[1].product_state, "found")
        self.assertEqual(inbox.line_ids[1].product_id.default_code, "SI-GHOST")

    def test_payment_method_and_its_mapping_inline(self):
        inbox = self.receive(self.order_data("M1"))
        self.assertEqual((inbox.payment_method_id, inbox.payment_journal_id, inbox.payment_method_mapped),
                         (self.card, self.bank, True))

    # ------------------------------------------------------------------
    # Who may press what
    # ------------------------------------------------------------------

    def test_a_user_fixes_what_stops_an_order_but_changes_no_settings(self):
        """A salesperson (Sales Inbox User) links a product that has no Internal Reference yet
        and maps a payment method nobody mapped: that fixes the order in front of them. What
        changes settings others rely on (a product's existing reference, a mapping, new
        products, currencies, pricelists) stays with those who own them."""
        inbox = self.receive(self.foreign_order("U1"))
        self.run_cron()
        as_user = inbox.with_user(self.user)
        for method, args in (("action_create_product_for_sku", ("SI-NEW-1",)),
                             ("action_activate_currency", ()), ("action_create_pricelist", ())):
            with self.subTest(method=method), self.assertRaises(AccessError):
                getattr(as_user, method)(*args)
        self.assertFalse(self.env["product.product"].search([("default_code", "=", "SI-NEW-1")]))
        self.assertFalse(self.nok.active)

        # Link Product: not a product that has a reference already (another store finds it so)...
        action = as_user.action_open_link_product("SI-NEW-1")
        wizard = self.env[action["res_model"]].with_user(self.user).browse(action["res_id"])
        wizard.product_id = self.mug
        with self.assertRaises(AccessError):
            wizard.action_link()
        self.assertEqual(self.mug.default_code, "SI-MUG")
        # ...but one without: it takes the SKU.
        scarf = self.env["product.product"].create({"name": "Scarf", "list_price": 10, "invoice_policy": "order"})
        wizard.product_id = scarf
        wizard.action_link()
        self.assertEqual(scarf.default_code, "SI-NEW-1")

        # Map Method: the first mapping is the user's, with a note on the channel...
        action = as_user.action_map_payment_method()
        method = self.env[action["res_model"]].with_user(self.user).browse(action["res_id"])
        with self.assertRaises(AccessError):
            method.write({"name": "Renamed"})
        method.write({"journal_id": self.bank.id})
        self.assertTrue(method.is_mapped)
        self.assertIn("mapped by", self.channel.message_ids[:1].body)
        self.assertNotIn(("method_unmapped", "banklink"), self.kinds(inbox))
        # ...changing it is a manager's, by the button or by RPC.
        with self.assertRaises(AccessError):
            as_user.action_map_payment_method()
        with self.assertRaises(AccessError):
            method.write({"journal_id": False})
        self.assertEqual(method.journal_id, self.bank)
        # Reading the problems and checking again are the user's.
        as_user.action_check_again()
        self.assertEqual(self.kinds(inbox), [("currency_inactive", "NOK"), ("sku_missing", "SI-NEW-2")])

    def _buttons(self, user):
        arch = self.env["sale.inbox.order"].with_user(user).get_views([(False, "form")])["views"]["form"]["arch"]
        for button in etree.fromstring(arch).xpath("//button[@type='object']"):
            field = button.xpath("ancestor::field[1]")
            yield (field[0].get("name") if field else None), button.get("name")

    def test_every_button_a_user_sees_works_for_them(self):
        inbox = self.receive(self.foreign_order("V1", lines=[
            {"sku": "SI-MUG", "name": "Enamel mug", "quantity": 1, "unit_price": 12.5},
            {"sku": "SI-NEW-1", "name": "Wool scarf", "quantity": 1, "unit_price": 10}]))
        self.run_cron()
        self.assertTrue(inbox.problem_ids)
        buttons = set(self._buttons(self.user))
        self.assertIn(("problem_ids", "action_link_product"), buttons)
        self.assertIn(("problem_ids", "action_map_payment_method"), buttons)
        self.assertNotIn(("line_ids", "action_create_product"), buttons)
        self.assertIn((None, "action_check_again"), buttons)
        for field, name in sorted(buttons, key=str):
            targets = inbox[field] if field else inbox
            for target in targets.with_user(self.user):
                with self.subTest(field=field, button=name, record=target.id):
                    try:
                        with self.env.cr.savepoint():
                            getattr(target, name)()
                    except UserError as exc:
                        if isinstance(exc, AccessError):
                            self.fail(f"{field or 'form'}.{name} is shown to users and refused to them: {exc}")
        manager_buttons = set(self._buttons(self.manager))
        for expected in (("problem_ids", "action_link_product"), ("line_ids", "action_create_product"),
                         ("problem_ids", "action_map_payment_method"), (None, "action_map_payment_method")):
            self.assertIn(expected, manager_buttons)

    def test_the_json_is_on_the_technical_tab(self):
        """The JSON is shown in the technical tab only (base.group_no_one: debug mode)."""
        arch = etree.fromstring(self.env.ref("sale_inbox.sale_inbox_order_view_form").arch)
        technical = arch.xpath("//page[@name='technical']")
        self.assertEqual([page.get("groups") for page in technical], ["base.group_no_one"])
        for name in ("normalized", "payload"):
            self.assertTrue(technical[0].xpath(f".//field[@name='{name}']"))
            self.assertEqual(
                arch.xpath(f"//field[@name='{name}'][not(ancestor::page[@name='technical'])]"), [])
        # Outside debug mode nobody gets it, managers included, who still correct it there.
        views = self.env["sale.inbox.order"].with_user(self.manager).get_views([(False, "form")])
        arch = views["views"]["form"]["arch"]
        self.assertFalse(etree.fromstring(arch).xpath("//field[@name='normalized']"))

    # ------------------------------------------------------------------
    # Cancel
    # ------------------------------------------------------------------

    def test_cancel_leaves_no_draft_quotation(self):
        inbox = self.receive(self.order_data("C1", total=70.00))
        self.run_cron()
        draft = inbox.sale_order_id
        self.assertEqual((inbox.state, draft.state), ("needs_review", "draft"))
        inbox.with_user(self.user).action_cancel()
        self.assertEqual(inbox.state, "cancelled")
        self.assertFalse(draft.exists(), "the draft the inbox built must not be left behind")
        self.assertFalse(inbox.sale_order_id)
        self.assertFalse(self.env["sale.order"].search([("inbox_order_id", "=", inbox.id)]))
        # Nothing left: the order may go back to the inbox.
        inbox.with_user(self.user).action_reset_to_new()
        self.assertEqual(inbox.state, "new")

    def test_cancel_leaves_a_confirmed_order_alone(self):
        self.channel.send_email = True
        inbox = self.receive(self.order_data("C2", customer={"id": "c-noemail-2", "name": "No Mail"}))
        self.run_cron()
        self.assertEqual((inbox.state, inbox.failed_step), ("error", "email"))
        so = inbox.sale_order_id
        self.assertEqual(so.state, "sale")
        inbox.with_user(self.user).action_cancel()
        self.assertEqual(inbox.state, "cancelled")
        self.assertEqual((inbox.sale_order_id, so.state), (so, "sale"))

