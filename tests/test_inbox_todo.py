from datetime import date, timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from ..models.sale_inbox_order_report import FOLDED_STATES, KANBAN_STATES, TODO_STATES
from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestInboxTodo(InboxFixtures, TransactionCase):
    """The inbox as people meet it: a to-do kanban in workflow order, the "To Do" filter by
    default, and reports on orders (per day, channel, state; error rate; hours to done)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.user = new_test_user(cls.env, "todo_inbox_user", groups="sale_inbox.group_sale_inbox_user")
        cls.salesman = new_test_user(cls.env, "todo_salesman", groups="sales_team.group_sale_salesman")
        cls.Inbox = cls.env["sale.inbox.order"]
        # The demo data (when installed) has orders of its own.
        cls.here = [("channel_id", "=", cls.channel.id)]

    def unknown_sku_order(self, external_id):
        """An order with a SKU Odoo does not know: processing stops it in error."""
        data = self.order_data(external_id)
        data["lines"].append({"sku": "SI-NOPE", "quantity": 1, "unit_price": 1})
        data["total"] = data["payment"]["amount"] = 70.79
        return data

    def cent_off_order(self, external_id):
        """An order whose store total is a cent off Odoo's: kept as a draft for review."""
        return self.order_data(external_id, total=69.57)

    def received_hours_ago(self, order, hours):
        """Intake stamps the receipt with now; the report needs it earlier (SQL, as intake
        writes it)."""
        self.env.cr.execute("UPDATE sale_inbox_order SET received_at = %s WHERE id = %s",
                            (fields.Datetime.now() - timedelta(hours=hours), order.id))
        order.invalidate_recordset(["received_at"])

    def search_filter_domain(self, name):
        """The domain of a filter of the inbox's search view, as the web client evaluates it."""
        views = self.Inbox.with_user(self.user).get_views([(False, "search")])
        arch = etree.fromstring(views["views"]["search"]["arch"])
        [node] = arch.xpath(f"//filter[@name='{name}']")
        return safe_eval(node.get("domain"), {"uid": self.user.id, "context_today": date.today})

    def test_kanban_has_every_column_in_workflow_order_done_and_cancelled_folded(self):
        done = self.receive(self.order_data("K1"))
        self.run_cron()
        new = self.receive(self.order_data("K2"))  # no cron since: still new
        self.assertEqual((done.state, new.state), ("done", "new"), done.error_message)
        kanban = self.Inbox.with_user(self.user).get_views([(False, "kanban")])["views"]["kanban"]
        self.assertEqual(etree.fromstring(kanban["arch"]).get("default_group_by"), "state")

        # As the kanban asks.
        groups = self.Inbox.with_user(self.user).web_read_group(
            self.here, ["state"], ["state"], lazy=True)["groups"]
        self.assertEqual([group["state"] for group in groups], list(KANBAN_STATES))
        self.assertEqual([group["state"] for group in groups if group["__fold"]], list(FOLDED_STATES))
        self.assertEqual({group["state"]: group["state_count"] for group in groups}, {
            "new": 1, "waiting_payment": 0, "needs_review": 0, "error": 0, "done": 1, "cancelled": 0})

    def test_kanban_columns_with_a_filter_keep_their_order_and_empty_ones(self):
        self.receive(self.cent_off_order("K3"))
        self.run_cron()
        groups = self.Inbox.with_user(self.user).web_read_group(
            self.here + [("state", "in", TODO_STATES)], ["state"], ["state"], lazy=True)["groups"]
        self.assertEqual([group["state"] for group in groups], list(KANBAN_STATES))
        by_state = {group["state"]: group["state_count"] for group in groups}
        self.assertEqual(by_state["needs_review"], 1)
        self.assertEqual(by_state["done"], 0)

    def test_cards_are_coloured_by_state(self):
        order = self.receive(self.cent_off_order("C1"))
        self.run_cron()
        self.assertEqual(order.state, "needs_review")
        self.assertEqual(order.with_user(self.user).kanban_color, 2)  # orange
        kanban = self.Inbox.with_user(self.user).get_views([(False, "kanban")])["views"]["kanban"]
        arch = etree.fromstring(kanban["arch"])
        self.assertEqual(arch.get("highlight_color"), "kanban_color")
        self.assertTrue(arch.xpath("//field[@name='activity_ids'][@widget='kanban_activity']"))
        self.assertTrue(arch.xpath("//field[@name='responsible_id'][@widget='many2one_avatar_user']"))

    def test_the_inbox_opens_on_what_is_to_do(self):
        action = self.env.ref("sale_inbox.sale_inbox_order_action")
        self.assertEqual(safe_eval(action.context), {"search_default_todo": 1})
        new = self.receive(self.order_data("T1"))
        review = self.receive(self.cent_off_order("T2"))
        failed = self.receive(self.unknown_sku_order("T3"))
        done = self.receive(self.order_data("T4"))
        cancelled = self.receive(self.order_data("T5"))
        # Processed by a person's click, not the cron: T1 stays new.
        (review | failed | done).with_user(self.user).action_process()
        cancelled.with_user(self.user).action_cancel()
        self.assertEqual((new.state, review.state, failed.state, done.state, cancelled.state),
                         ("new", "needs_review", "error", "done", "cancelled"))
        self.assertEqual(self.search_filter_domain("todo"), [("state", "in", TODO_STATES)])
        todo = self.Inbox.with_user(self.user).search(self.here + self.search_filter_domain("todo"))
        self.assertEqual(todo, new | review | failed)
        attention = self.Inbox.with_user(self.user).search(self.here + self.search_filter_domain("attention"))
        self.assertEqual(attention, review | failed)

    def test_my_channels_are_those_i_am_responsible_for(self):
        other = self.env["sale.channel"].create({"name": "Other shop", "platform": "connect",
                                                 "responsible_id": self.env.user.id})
        self.channel.responsible_id = self.user
        mine = self.receive(self.order_data("M1"))
        self.receive(self.order_data("M2"), channel=other)
        found = self.Inbox.with_user(self.user).search(
            [("channel_id", "in", (self.channel | other).ids)] + self.search_filter_domain("my_channels"))
        self.assertEqual(found, mine)

    def test_activity_filters(self):
        late = self.receive(self.order_data("A1"))
        later = self.receive(self.order_data("A2"))
        someone_elses = self.receive(self.order_data("A3"))
        todo = self.env.ref("mail.mail_activity_data_todo")
        for order, user, days in ((late, self.user, -1), (later, self.user, 2), (someone_elses, self.env.user, -1)):
            order.activity_schedule(activity_type_id=todo.id, user_id=user.id,
                                    date_deadline=date.today() + timedelta(days=days))
        mine = self.Inbox.with_user(self.user).search(self.here + self.search_filter_domain("activities_my"))
        self.assertEqual(mine, late | later)
        overdue = self.Inbox.with_user(self.user).search(self.here + self.search_filter_domain("activities_overdue"))
        self.assertEqual(overdue, late)

    def test_hours_to_done_and_error_rate_after_real_processing(self):
        done = self.receive(self.order_data("H1"))
        failed = self.receive(self.unknown_sku_order("H2"))
        self.received_hours_ago(done, 3)
        self.received_hours_ago(failed, 5)
        self.run_cron()  # the real processor, as the cron runs it
        waiting = self.receive(self.order_data("H3"))
        self.assertEqual((done.state, failed.state, waiting.state), ("done", "error", "new"), done.error_message)
        self.assertAlmostEqual(done.hours_to_done, 3, delta=0.1)
        self.assertEqual((failed.hours_to_done, waiting.hours_to_done), (0, 0))
        self.assertEqual((failed.error_rate, done.error_rate), (100, 0))

        # As the pivot asks: only the order done counts in the average; the error rate is the
        # share of orders in error.
        [row] = self.Inbox.with_user(self.user).read_group(
            self.here,
            ["hours_to_done:avg", "error_rate:avg", "review_rate:avg", "__count"],
            ["channel_id"], lazy=False)
        self.assertAlmostEqual(row["hours_to_done"], 3, delta=0.1)
        self.assertAlmostEqual(row["error_rate"], 100 / 3, places=3)
        self.assertEqual(row["review_rate"], 0)
        self.assertEqual(row["__count"], 3)
        # Per day and state, as the graph groups them.
        rows = self.Inbox.with_user(self.user).read_group(
            self.here, ["__count", "hours_to_done:avg"], ["received_at:day", "state"], lazy=False)
        self.assertEqual(sum(row["__count"] for row in rows), 3)
        by_state = {row["state"]: row for row in rows}
        self.assertFalse(by_state["new"]["hours_to_done"])  # NULL: no order done
        self.assertAlmostEqual(by_state["done"]["hours_to_done"], 3, delta=0.1)

    def test_views_load_for_a_sales_inbox_user_and_only_for_them(self):
        views = self.Inbox.with_user(self.user).get_views(
            [(False, "kanban"), (False, "list"), (False, "graph"), (False, "pivot"), (False, "form"),
             (False, "search")],
            {"action_id": self.env.ref("sale_inbox.sale_inbox_order_action").id})
        self.assertEqual(set(views["views"]), {"kanban", "list", "graph", "pivot", "form", "search"})
        described = self.Inbox.with_user(self.user).fields_get(
            ["hours_to_done", "error_rate", "review_rate"], ["aggregator"])
        self.assertEqual({name: field["aggregator"] for name, field in described.items()},
                         dict.fromkeys(("hours_to_done", "error_rate", "review_rate"), "avg"))
        # The list shows the state second: on a phone it is visible without scrolling.
        arch = etree.fromstring(views["views"]["list"]["arch"])
        shown = [node.get("name") for node in arch.xpath("/list/field")
                 if node.get("optional") != "hide" and node.get("column_invisible") != "1"]
        self.assertEqual(shown[:2], ["name", "state"])
        action = self.env.ref("sale_inbox.sale_inbox_order_action")
        self.assertEqual(action.view_mode.split(","), ["kanban", "list", "form", "graph", "pivot"])
        analysis = self.env.ref("sale_inbox.menu_sale_inbox_analysis")
        self.assertIn(analysis.id, self.env["ir.ui.menu"].with_user(self.user)._visible_menu_ids())
        # The kanban does not let cards be dragged; nor does RPC move an order to another column.
        order = self.receive(self.order_data("V1"))
        with self.assertRaises(AccessError):
            order.with_user(self.user).write({"state": "done"})
        # Someone outside the Sales Inbox groups reads no report of it.
        with self.assertRaises(AccessError):
            self.Inbox.with_user(self.salesman).read_group(
                [], ["hours_to_done:avg", "error_rate:avg"], ["channel_id"], lazy=False)
        with self.assertRaises(AccessError):
            self.Inbox.with_user(self.salesman).web_read_group([], ["state"], ["state"])
