"""Reading Ozon's money operations into marketplace fees: every operation once, linked to its
sales order, page by page, against the fake Ozon on real HTTP; a poisoned channel among good
ones; the channel lock; the sales order's tab; who may do what."""
import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException, get_db_name

from odoo.addons.sale_inbox.platforms.http import ApiBadAnswer
from odoo.addons.sale_inbox.platforms.ozon import SCHEME_KEY
from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon
from odoo.addons.sale_inbox.platforms.ozon.finance import iso_ms
from odoo.addons.sale_inbox.platforms.testing import FakeStore

from .common import ALLOW_PRIVATE_PARAM
from .ozon_money_common import OzonMoneyFixtures
from .ozon_ship_common import SKUS

FINANCE_LIST = "/v3/finance/transaction/list"


def month_start(moment):
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@tagged("post_install", "-at_install")
class TestOzonFees(OzonMoneyFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_money()
        cls.Fee = cls.env["sale.channel.fee"]

    def setUp(self):
        super().setUp()
        self.start_ozon()
        self.now = fields.Datetime.now()
        # One calendar month: Ozon's windows are months, this read is one window.
        self.first = month_start(self.now)
        self.channel.fees_from = self.first.date()

    def at(self, index, count):
        """The index-th of count moments spread between the month's start and now."""
        span = max((self.now - self.first).total_seconds() - 60, 1)
        return self.first + timedelta(seconds=span * index / count)

    def read_fees(self):
        self.Fee._cron_read_fees()
        self.channel.invalidate_recordset()

    def fees(self, channel=None):
        return self.Fee.search([("channel_id", "=", (channel or self.channel).id)])

    def test_a_month_across_three_pages_is_stored_once_and_linked(self):
        orders = {number: self.posting(number) for number in ("1000-0001-1", "1000-0002-1", "1000-0003-1")}
        count = 2500
        for index, number in enumerate(orders):
            self.ozon.sale_operation(number, "45.00", "6.75", logistics="3.00", at=self.at(index, count))
            self.ozon.charge_operation(number, "1.50", at=self.at(index + 3, count))
        for index in range(6, count):
            self.ozon.service_operation("0.10", at=self.at(index, count))

        self.read_fees()
        fees = self.fees()
        self.assertEqual(len(fees), count)
        self.assertEqual(Counter(fees.mapped("ref")).most_common(1)[0][1], 1, "every operation once")
        self.assertEqual(sorted(op["operation_id"] for op in self.ozon.operations),
                         sorted(int(ref) for ref in fees.mapped("ref")))
        pages = [body["page"] for body in self.ozon.finance_requests]
        self.assertEqual(pages, [1, 2, 3], "one month window, 3 pages of 1000")
        self.assertEqual({body["page_size"] for body in self.ozon.finance_requests}, {1000})
        self.assertFalse(self.channel.fees_last_error)
        self.assertTrue(self.channel.fees_read_until)

        sale_order = orders["1000-0002-1"]
        sale, charge = sale_order.fee_ids.sorted("date")
        self.assertEqual(sale.kind, "sale")
        self.assertEqual(sale.order_ref, "1000-0002-1")
        # Logistics is counted as delivery, as Ozon's settlement statement counts it.
        self.assertEqual((sale.amount, sale.sale_amount, sale.commission_amount, sale.delivery_amount,
                          sale.services_amount, sale.charge_amount), (35.25, 45.0, -6.75, -3.0, 0.0, -9.75))
        self.assertEqual(sale.state, "waiting")
        self.assertEqual(charge.kind, "order_charge")
        self.assertEqual((charge.amount, charge.charge_amount), (-1.5, -1.5))
        self.assertEqual(sale.currency_id, self.eur, "the channel pricelist's currency")
        self.assertAlmostEqual(sale_order.fee_charges_total, -11.25)
        self.assertAlmostEqual(sale_order.fee_credited_total, 33.75)
        services = fees.filtered(lambda f: f.kind == "service")
        self.assertEqual(len(services), count - 6)
        self.assertFalse(services.sale_order_id, "operations of no order are kept, of no order")
        self.assertEqual(set(services.mapped("state")), {"waiting"})
        self.assertAlmostEqual(sum(services.mapped("amount")), float(Decimal("-0.10") * (count - 6)))
        for number, order in orders.items():
            self.assertEqual(order.fee_ids.mapped("order_ref"), [number, number])

        # Read again (the next hour): the overlap re-reads; nothing is duplicated.
        read_until = self.channel.fees_read_until
        self.ozon.finance_requests.clear()
        self.read_fees()
        self.assertEqual(len(self.fees()), count)
        self.assertTrue(self.ozon.finance_requests, "read again from before the watermark")
        asked_from = self.ozon.finance_requests[0]["filter"]["date"]["from"]
        self.assertEqual(asked_from, iso_ms(max(read_until - timedelta(days=2), self.first)))
        self.assertGreaterEqual(self.channel.fees_read_until, read_until)

    def test_operations_before_their_order_are_linked_later(self):
        early = self.posting("1000-0010-1")
        self.ozon.charge_operation("1000-0011-1", "2.00", at=self.at(1, 10))
        self.ozon.sale_operation("1000-0011-1", "45.00", "6.75", at=self.at(2, 10))
        # Ozon names an order without its posting's suffix: the order's one sales order.
        self.ozon.charge_operation("1000-0010", "0.80", at=self.at(3, 10))
        # A sale credited with no charge: nothing to book.
        self.ozon.add_operation("OperationAgentDeliveredToCustomer", "10.00", kind="orders",
                                posting_number="1000-0010-1", accruals_for_sale="10.00", at=self.at(4, 10))
        self.read_fees()
        fees = self.fees()
        late = fees.filtered(lambda f: f.order_ref == "1000-0011-1")
        self.assertEqual(set(late.mapped("state")), {"unmatched"})
        self.assertFalse(late.sale_order_id)
        by_order = fees.filtered(lambda f: f.order_ref == "1000-0010")
        self.assertEqual(by_order.sale_order_id, early)
        self.assertEqual(by_order.state, "waiting")
        plain = fees.filtered(lambda f: f.order_ref == "1000-0010-1")
        self.assertEqual((plain.state, plain.sale_order_id), ("nothing", early))

        order = self.posting("1000-0011-1")
        self.read_fees()
        self.assertEqual(late.sale_order_id, order)
        self.assertEqual(set(late.mapped("state")), {"waiting"})
        self.assertEqual(len(self.fees()), 4)

    def test_a_split_postings_operations_go_to_its_order(self):
        order = self.posting("1000-0030-1")
        self.split(order, [("1000-0030-2", (("MUG-01", 2, "12.50"),)),
                           ("1000-0030-3", (("TSHIRT-RED-M", 1, "20.00"),))])
        self.ozon.sale_operation("1000-0030-2", "25.00", "3.75", at=self.at(1, 3))
        self.ozon.sale_operation("1000-0030-3", "20.00", "3.00", at=self.at(2, 3))
        # The order's number: all its postings are of one sales order.
        self.ozon.charge_operation("1000-0030", "0.50", at=self.at(2, 3))
        self.read_fees()
        self.assertEqual(len(order.fee_ids), 3)
        self.assertEqual(set(order.fee_ids.mapped("state")), {"waiting"})
        self.assertAlmostEqual(order.fee_charges_total, -7.25)

    def test_two_months_are_asked_as_two_windows(self):
        previous = month_start(self.first - timedelta(days=1))
        self.channel.fees_from = previous.date()
        self.ozon.service_operation("5.00", at=previous + timedelta(days=3))
        self.ozon.service_operation("7.00", at=self.at(1, 2))
        self.read_fees()
        self.assertEqual(sorted(self.fees().mapped("amount")), [-7.0, -5.0])
        windows = [body["filter"]["date"] for body in self.ozon.finance_requests]
        self.assertEqual([w["from"][:7] for w in windows], [f"{previous:%Y-%m}", f"{self.first:%Y-%m}"])
        self.assertTrue(all(w["from"][:7] == w["to"][:7] for w in windows), "each window within one month")

    def test_a_poisoned_channel_does_not_hold_up_the_other(self):
        poisoned_store = FakeStore()
        poisoned_store.start()
        self.addCleanup(poisoned_store.stop)
        poisoned_store.route("POST", FINANCE_LIST, responses=[
            (200, {"Content-Type": "text/html"}, "<html><body>Maintenance</body></html>")])
        poisoned = self.env["sale.channel"].create({
            "platform": "ozon", "name": "Ozon (poisoned)", "api_login": "123456", "api_secret": "ozon-key",
            "store_url": poisoned_store.url, "pricelist_id": self.pricelist.id,
            "fees_from": self.first.date()})
        self.ozon.service_operation("3.00", at=self.at(1, 2))
        self.read_fees()
        poisoned.invalidate_recordset()
        self.assertEqual(len(self.fees()), 1, "the good channel's fees are stored")
        self.assertFalse(self.channel.fees_last_error)
        self.assertTrue(poisoned.fees_last_error, "the poisoned channel's error shows on it")
        self.assertFalse(poisoned.fees_read_until, "its watermark did not move")
        self.assertFalse(self.fees(poisoned))

        # The marketplace answers again: the next run reads it, the error goes.
        other = FakeOzon(poisoned_store, now=self.clock)
        other.service_operation("4.00", at=self.at(1, 2))
        self.read_fees()
        poisoned.invalidate_recordset()
        self.assertFalse(poisoned.fees_last_error)
        self.assertTrue(poisoned.fees_read_until)
        self.assertEqual(self.fees(poisoned).mapped("amount"), [-4.0])
        self.assertEqual(len(self.fees()), 1)

    # -- fix round 13 -----------------------------------------------------------------------

    def test_an_order_cancelled_before_its_sales_order_is_waiting_not_unmatched(self):
        """The store cancelled the order before a sales order was made: its charges wait to be
        booked as those of a cancelled order; an order with no inbox order is unmatched."""
        self.assertEqual(dict(self.Fee._fields["state"].selection)["unmatched"], "No Sales Order Yet")
        posting = self.ozon.fbs_posting("1000-0040-1", [("MUG-01", 1, "12.50", SKUS["MUG-01"])],
                                        addressee={"name": "Ivan Petrov", "phone": ""})
        for product in posting["products"]:
            product["currency_code"] = "EUR"
        self.ozon.add_posting(posting)
        inbox = self.Inbox.browse(self.Inbox._receive(
            self.channel, json.dumps(dict(self.ozon.public(posting), **{SCHEME_KEY: "fbs"})).encode(),
            "application/json")[0])
        later = self.ozon.charge_operation("1000-0040-1", "0.40", at=self.at(1, 4))
        self.ozon.charge_operation("1000-0041-1", "1.10", at=self.at(2, 4))
        inbox.sudo().write({"state": "cancelled"})
        self.read_fees()
        fees = self.fees()
        on_cancelled = fees.filtered(lambda f: f.order_ref == "1000-0040-1")
        self.assertEqual((on_cancelled.state, on_cancelled.sale_order_id), ("waiting", self.env["sale.order"]))
        self.assertEqual(fees.filtered(lambda f: f.order_ref == "1000-0041-1").state, "unmatched")

        # Unmatched first, the store cancels the order later: waiting at the next read.
        self.assertTrue(later)
        posting2 = self.ozon.fbs_posting("1000-0042-1", [("MUG-01", 1, "12.50", SKUS["MUG-01"])],
                                         addressee={"name": "Ivan Petrov", "phone": ""})
        for product in posting2["products"]:
            product["currency_code"] = "EUR"
        inbox2 = self.Inbox.browse(self.Inbox._receive(
            self.channel, json.dumps(dict(self.ozon.public(posting2), **{SCHEME_KEY: "fbs"})).encode(),
            "application/json")[0])
        self.ozon.charge_operation("1000-0042-1", "0.70", at=self.now - timedelta(minutes=5))
        self.read_fees()
        fee2 = self.fees().filtered(lambda f: f.order_ref == "1000-0042-1")
        self.assertEqual(fee2.state, "unmatched")
        inbox2.sudo().write({"state": "cancelled"})
        self.read_fees()
        self.assertEqual(fee2.state, "waiting")

    def test_read_fees_from_set_earlier_reads_back_to_it(self):
        """Browse #4a: Read Fees From moved before what was read: the next read goes back."""
        self.ozon.service_operation("7.00", at=self.at(1, 2))
        self.read_fees()
        self.assertEqual(self.channel.fees_read_since, self.first)
        previous = month_start(self.first - timedelta(days=1))
        self.ozon.service_operation("5.00", at=previous + timedelta(days=3))
        self.channel.fees_from = previous.date()
        self.ozon.finance_requests.clear()
        self.read_fees()
        self.assertEqual(self.ozon.finance_requests[0]["filter"]["date"]["from"], iso_ms(previous))
        self.assertEqual(sorted(self.fees().mapped("amount")), [-7.0, -5.0])
        self.assertEqual(self.channel.fees_read_since, previous)
        # Read back once: the next read starts from the watermark again.
        self.ozon.finance_requests.clear()
        read_until = self.channel.fees_read_until
        self.read_fees()
        self.assertEqual(self.ozon.finance_requests[0]["filter"]["date"]["from"],
                         iso_ms(max(read_until - timedelta(days=2), self.first)))

    def test_the_watermark_moves_past_each_month_read_completely(self):
        """m10: an unreadable operation of this month holds up this month only: the previous
        month, read completely, is behind the watermark."""
        previous = month_start(self.first - timedelta(days=1))
        self.channel.fees_from = previous.date()
        self.ozon.service_operation("5.00", at=previous + timedelta(days=3))
        bad = self.ozon.service_operation("7.00", at=self.at(1, 2))
        bad["amount"] = "seven"
        # Not assertRaises: Odoo's rolls back what the read did before the error.
        try:
            self.Fee._read_channel_fees(self.channel)
        except ApiBadAnswer as exc:
            self.assertIn("amount is not a number", str(exc))
        else:
            self.fail("the unreadable operation stops the read")
        self.channel.invalidate_recordset()
        self.assertEqual(self.fees().mapped("amount"), [-5.0])
        self.assertEqual(self.channel.fees_read_until.replace(microsecond=0), self.first - timedelta(seconds=1))
        self.assertEqual(self.channel.fees_read_since, previous)

    def test_ozon_operation_types_are_named_in_english(self):
        self.ozon.service_operation("3.00", at=self.at(1, 3))
        self.ozon.add_operation("SomethingNewFromOzon", "-1.00", name="Новая услуга", at=self.at(2, 3))
        self.read_fees()
        names = {fee.operation_type: fee.name for fee in self.fees()}
        self.assertEqual(names, {"OperationMarketplaceServiceStorage": "Storage",
                                 "SomethingNewFromOzon": "Новая услуга"})
        arch = self.Fee.get_views([(False, "list")])["views"]["list"]["arch"]
        self.assertIn('name="operation_type"', arch)

    def test_journal_entries_are_links_only_for_those_who_may_read_them(self):
        """Browse #5: a Sales Inbox user without accounting sees the entry's name, no link;
        an accountant gets the link. m8: accountants find the fees under Accounting."""
        self.ozon.service_operation("3.00", at=self.at(1, 2))
        self.read_fees()
        fee = self.fees()
        move = self.env["account.move"].create({"move_type": "entry", "journal_id": self.marketplace_journal.id})
        fee.sudo().move_id = move
        user = new_test_user(self.env, "fees_plain_user",
                             groups="sales_team.group_sale_salesman_all_leads,sale_inbox.group_sale_inbox_user")
        accountant = new_test_user(self.env, "fees_accountant", groups="account.group_account_readonly")
        for who, link in ((user, False), (accountant, True)):
            for view in ("list", "form"):
                arch = self.Fee.with_user(who).get_views([(False, view)])["views"][view]["arch"]
                self.assertEqual('name="move_id"' in arch, link, (who.login, view))
                self.assertEqual('name="move_name"' in arch, not link, (who.login, view))
        self.assertEqual(fee.with_user(user).move_name, move.name)
        so_arch = self.env["sale.order"].with_user(user).get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertNotIn('name="move_id"', so_arch.split('name="marketplace_fees"')[1].split("</page>")[0])

        menu = self.env.ref("sale_inbox.menu_sale_channel_fee_accounting")
        self.assertEqual(menu.parent_id, self.env.ref("account.menu_finance_reports"))
        visible = self.env["ir.ui.menu"].with_user(accountant)._visible_menu_ids()
        self.assertIn(menu.id, visible)
        self.assertNotIn(menu.id, self.env["ir.ui.menu"].with_user(user)._visible_menu_ids())

    def test_refused_credentials_say_what_to_check(self):
        """Browse #4b: the error on the channel says in words what to check."""
        self.channel.api_secret = "wrong-key"
        self.ozon.service_operation("3.00", at=self.at(1, 2))
        self.read_fees()
        error = self.channel.fees_last_error
        self.assertIn("refused the credentials", error)
        self.assertIn("Client ID and the API key", error)
        self.assertIn("Finance role", error)
        self.assertFalse(self.fees())

    def test_the_read_reconciles_the_touched_periods_and_survives_its_failure(self):
        """The fee read ends by reconciling the periods whose fees changed; a failure there
        undoes no fee read."""
        Payout = self.env.registry["sale.channel.payout"]
        calls = []

        def touched(payouts, channels=None):
            calls.append(channels)
            raise RuntimeError("reconciliation broke")

        self.ozon.service_operation("3.00", at=self.at(1, 2))
        with patch.object(Payout, "_reconcile_touched", touched, create=True):
            self.read_fees()
        self.assertEqual(len(calls), 1)
        self.assertIn(self.channel, calls[0])
        self.assertEqual(self.fees().mapped("amount"), [-3.0], "the fees are kept")
        self.assertFalse(self.channel.fees_last_error)

    def test_the_sales_order_tab_for_users_and_salespeople(self):
        order = self.posting("1000-0020-1")
        self.ozon.sale_operation("1000-0020-1", "45.00", "6.75", at=self.at(1, 2))
        self.read_fees()
        inbox_user = new_test_user(self.env, "fees_inbox_user",
                                   groups="sales_team.group_sale_salesman_all_leads,sale_inbox.group_sale_inbox_user")
        salesman = new_test_user(self.env, "fees_salesman", groups="sales_team.group_sale_salesman_all_leads")
        for user, sees in ((inbox_user, True), (salesman, False)):
            views = self.env["sale.order"].with_user(user).get_views([(False, "form")])
            arch = views["views"]["form"]["arch"]
            self.assertEqual('name="marketplace_fees"' in arch, sees, user.login)
            spec = {name: {} for name in views["models"]["sale.order"]["fields"]}
            values = order.with_user(user).web_read(spec)[0]
            self.assertEqual("fee_ids" in values, sees)
            if sees:
                self.assertEqual(values["fee_ids"], order.fee_ids.ids)
                self.assertAlmostEqual(values["fee_charges_total"], -6.75)

    def test_read_fees_now_is_for_managers_and_fees_are_read_only(self):
        self.ozon.service_operation("3.00", at=self.at(1, 2))
        self.read_fees()
        fee = self.fees()
        user = new_test_user(self.env, "fees_user", groups="sale_inbox.group_sale_inbox_user")
        manager = new_test_user(self.env, "fees_manager", groups="sale_inbox.group_sale_inbox_manager")
        cron = self.env.ref("sale_inbox.ir_cron_read_fees")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        with self.assertRaises(AccessError):
            self.channel.with_user(user).action_read_fees_now()
        self.authenticate("fees_user", "fees_user")
        with self.assertRaises(JsonRpcException) as caught:
            self.make_jsonrpc_request("/web/dataset/call_kw", {
                "model": "sale.channel", "method": "action_read_fees_now", "args": [[self.channel.id]],
                "kwargs": {}})
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers)
        self.assertEqual(fee.with_user(user).amount, -3.0, "a user reads the fees")
        with self.assertRaises(AccessError):
            fee.with_user(user).write({"amount": 100})
        with self.assertRaises(AccessError):
            fee.with_user(manager).write({"state": "booked"})

        action = self.channel.with_user(user).action_view_fees()
        self.assertEqual(self.Fee.with_user(user).search(action["domain"]), fee, "Fees: the channel's operations")
        requests = len(self.ozon.finance_requests)
        self.channel.with_user(manager).action_read_fees_now()
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1)
        self.assertEqual(len(self.ozon.finance_requests), requests, "the job reads, not the request")

        other_company = self.env["res.company"].create({"name": "Other Co (fees)"})
        outsider = new_test_user(self.env, "fees_outsider", groups="sale_inbox.group_sale_inbox_manager",
                                 company_id=other_company.id, company_ids=[(6, 0, other_company.ids)])
        self.assertFalse(self.Fee.with_user(outsider).search([]))
        with self.assertRaises(AccessError):
            fee.with_user(outsider).read(["amount"])


@tagged("post_install", "-at_install")
class TestOzonFeesConcurrency(BaseCase):
    """Two runners on committed data: the second finds the channel locked and skips it."""

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        self.store = FakeStore()
        self.store.start()
        self.addCleanup(self.store.stop)
        self.ozon = FakeOzon(self.store)
        now = datetime.now().replace(microsecond=0)
        for index in range(1200):
            self.ozon.service_operation("0.10", at=now - timedelta(minutes=index + 1))
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            allowed = env["ir.config_parameter"].get_param(ALLOW_PRIVATE_PARAM)
            self.addCleanup(self._set_param, ALLOW_PRIVATE_PARAM, allowed)
            env["ir.config_parameter"].set_param(ALLOW_PRIVATE_PARAM, "True")
            channel = env["sale.channel"].create({
                "platform": "ozon", "name": "Ozon race", "api_login": self.ozon.client_id,
                "api_secret": self.ozon.api_key, "store_url": self.store.url,
                "fees_from": (now - timedelta(days=1)).date()})
            self.channel_id = channel.id
        self.addCleanup(self._cleanup)

    def _set_param(self, key, value):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["ir.config_parameter"].set_param(key, value or False)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM sale_channel_fee WHERE channel_id = %s", (self.channel_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (self.channel_id,))

    def _count(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*), count(DISTINCT ref) FROM sale_channel_fee WHERE channel_id = %s",
                       (self.channel_id,))
            return cr.fetchone()

    def test_a_second_runner_skips_a_channel_being_read(self):
        with self.registry.cursor() as holder, self.registry.cursor() as runner:
            # The first runner: it holds the fee read's lock on the channel (as while it reads a page).
            holder.execute("SELECT pg_advisory_xact_lock(1350101, %s)", (self.channel_id,))
            env = api.Environment(runner, SUPERUSER_ID, {})
            env["sale.channel.fee"]._cron_read_fees()
            channel = env["sale.channel"].browse(self.channel_id)
            self.assertFalse(self.ozon.finance_requests, "the second runner asked nothing")
            self.assertFalse(channel.fees_last_error)
            self.assertFalse(channel.fees_read_until)
            runner.commit()
            holder.rollback()
        self.assertEqual(self._count(), (0, 0))
        with self.registry.cursor() as runner:
            env = api.Environment(runner, SUPERUSER_ID, {})
            env["sale.channel.fee"]._cron_read_fees()
        self.assertEqual(self._count(), (1200, 1200))
        asked = [(body["filter"]["date"]["from"], body["page"]) for body in self.ozon.finance_requests]
        self.assertEqual(len(asked), len(set(asked)), "no page asked twice")
        with self.registry.cursor() as runner:
            env = api.Environment(runner, SUPERUSER_ID, {})
            env["sale.channel.fee"]._cron_read_fees()
            channel = env["sale.channel"].browse(self.channel_id)
            self.assertTrue(channel.fees_read_until)
            self.assertFalse(channel.fees_last_error)
        self.assertEqual(self._count(), (1200, 1200), "read again: nothing twice")

    def test_a_writer_of_the_channel_or_the_payout_read_does_not_stop_the_fee_read(self):
        """m9: the channel's row held (a manager saving its form, the order poll) and the
        payout read's lock held: the fee read reads all the same."""
        def run():
            with self.registry.cursor() as runner:
                api.Environment(runner, SUPERUSER_ID, {})["sale.channel.fee"]._cron_read_fees()

        with self.registry.cursor() as holder:
            holder.execute("SELECT id FROM sale_channel WHERE id = %s FOR NO KEY UPDATE", (self.channel_id,))
            holder.execute("SELECT pg_advisory_xact_lock(1350102, %s)", (self.channel_id,))
            thread = threading.Thread(target=run)
            thread.start()
            # The read asks Ozon while the row is held (its watermark's write then waits for it).
            deadline = time.monotonic() + 30
            while not self.ozon.finance_requests and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            read_while_held = bool(self.ozon.finance_requests)
            holder.rollback()
        thread.join(60)
        self.assertTrue(read_while_held, "the fees were read while the row was held")
        self.assertEqual(self._count(), (1200, 1200))
