"""Somebody is told: an activity for the channel's Responsible when an order needs review or
fails (one per order, done when it is resolved), and notification rules per channel, queued
with the event and sent by a job to Discuss, e-mail or a Telegram chat (a fake Bot API on
127.0.0.1, real HTTP)."""
from datetime import timedelta
from unittest.mock import patch

from lxml import etree

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.sale_inbox.models.sale_inbox_notice import MAX_ATTEMPTS
from odoo.addons.sale_inbox.platforms.testing import FakeStore
from odoo.addons.sale_inbox.platforms.testing_telegram import FakeTelegram

from .common import InboxFixtures

CHAT = "-1001001"
OTHER_CHAT = "-1002002"
ACTIVITY_TYPE = "sale_inbox.mail_activity_type_inbox_order"


class NotifyFixtures(InboxFixtures):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        cls.user = new_test_user(cls.env, "notify_user", groups="sale_inbox.group_sale_inbox_user")
        cls.manager = new_test_user(cls.env, "notify_manager", groups="sale_inbox.group_sale_inbox_manager")
        cls.channel.responsible_id = cls.user

    def start_telegram(self, chats=(CHAT, OTHER_CHAT)):
        server = FakeStore()
        server.start()
        self.addCleanup(server.stop)
        bot = FakeTelegram(server, chats=chats)
        self.env["ir.config_parameter"].sudo().set_param("sale_inbox.telegram_api_url", server.url)
        return bot

    def telegram_rule(self, bot, chat=CHAT, **values):
        return self.env["sale.channel.notify.rule"].create({
            "channel_id": self.channel.id, "target": "telegram", "telegram_token": bot.token,
            "telegram_chat_id": chat, **values})

    def bad_order(self, external_id="B1"):
        data = self.order_data(external_id)
        data["lines"][0]["sku"] = "SI-MISSING"
        return self.receive(data)

    def activities(self, orders):
        return self.env["mail.activity"].search([
            ("res_model", "=", "sale.inbox.order"), ("res_id", "in", orders.ids),
            ("activity_type_id", "=", self.env.ref(ACTIVITY_TYPE).id)])

    def notices(self, **domain):
        return self.env["sale.inbox.notice"].search(
            [("channel_id", "=", self.channel.id)] + [(key, "=", value) for key, value in domain.items()])

    def send(self):
        return self.env["sale.inbox.notice"]._cron_send()


@tagged("post_install", "-at_install")
class TestActivities(NotifyFixtures, TransactionCase):

    def test_an_order_in_error_gets_one_activity_for_the_responsible_done_when_resolved(self):
        inbox = self.bad_order()
        self.run_cron()
        self.assertEqual(inbox.state, "error")
        activity = self.activities(inbox)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.user)
        self.assertIn("Products", activity.summary)
        self.assertIn("SI-MISSING", activity.note)
        # Failing again (Retry) gives no second activity.
        inbox.with_user(self.user).action_retry()
        self.assertEqual(inbox.state, "error")
        self.assertEqual(self.activities(inbox), activity)
        # Resolved: the product exists now, Retry goes through; the activity is done.
        self.env["product.product"].create({"name": "Missing", "default_code": "SI-MISSING",
                                            "taxes_id": [Command.set(self.tax.ids)]})
        inbox.with_user(self.user).action_retry()
        self.assertEqual(inbox.state, "done", inbox.error_message)
        self.assertFalse(self.activities(inbox))
        done = self.env["mail.message"].search([("model", "=", "sale.inbox.order"), ("res_id", "=", inbox.id),
                                                ("mail_activity_type_id", "=", self.env.ref(ACTIVITY_TYPE).id)])
        self.assertTrue(done, "the activity is marked done (a message in the chatter), not deleted")

    def test_needs_review_gets_an_activity_and_cancel_resolves_it(self):
        inbox = self.receive(self.order_data("R1", total=69.57))
        self.run_cron()
        self.assertEqual(inbox.state, "needs_review")
        self.assertEqual(len(self.activities(inbox)), 1)
        inbox.with_user(self.user).action_cancel()
        self.assertFalse(self.activities(inbox))

    def test_a_batch_of_failures_gets_one_activity_each_and_good_orders_none(self):
        orders = [self.bad_order(f"B{i}") for i in range(3)] + [self.receive(self.order_data("G1"))]
        self.run_cron()
        self.assertEqual([o.state for o in orders], ["error", "error", "error", "done"])
        bad = orders[0] | orders[1] | orders[2]
        self.assertEqual(sorted(self.activities(bad).mapped("res_id")), sorted(bad.ids))
        self.assertFalse(self.activities(orders[3]))

    def test_without_responsible_the_salesperson_gets_it_and_without_either_nobody(self):
        salesperson = new_test_user(self.env, "notify_sales", groups="sale_inbox.group_sale_inbox_user")
        self.channel.write({"responsible_id": False, "user_id": salesperson.id})
        first = self.bad_order("S1")
        self.run_cron()
        self.assertEqual(self.activities(first).user_id, salesperson)
        self.channel.user_id = False
        second = self.bad_order("S2")
        self.run_cron()
        self.assertEqual(second.state, "error")
        self.assertFalse(self.activities(second))

    def test_an_unreadable_delivery_kept_in_error_gets_an_activity(self):
        inbox_id, _created = self.env["sale.inbox.order"].sudo()._store_unreadable(
            self.channel, b"{not json", "application/json", ValueError("not JSON"))
        inbox = self.env["sale.inbox.order"].browse(inbox_id)
        self.assertEqual(inbox.state, "error")
        self.assertEqual(len(self.activities(inbox)), 1)

    def test_processing_goes_on_when_activities_cannot_be_made(self):
        """Fault injection: creating activities raises; the order's error is still recorded,
        the good order of the batch is done, and nothing of processing is rolled back."""
        Activity = type(self.env["mail.activity"])

        def broken_create(records, vals_list):
            raise RuntimeError("activity machinery broken")

        orders = [self.bad_order("F1"), self.receive(self.order_data("F2"))]
        with patch.object(Activity, "create", broken_create), self.assertLogs(
                "odoo.addons.sale_inbox.models.sale_inbox_order_activity", "ERROR"):
            self.run_cron()
        self.assertEqual([o.state for o in orders], ["error", "done"])
        self.assertIn("SI-MISSING", orders[0].error_message)
        self.assertTrue(orders[1].sale_order_id)


@tagged("post_install", "-at_install")
class TestNotices(NotifyFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.discuss = cls.env["discuss.channel"].create({"name": "shop-orders"})
        cls.rule = cls.env["sale.channel.notify.rule"].create({
            "channel_id": cls.channel.id, "target": "discuss", "discuss_channel_id": cls.discuss.id,
            "on_new_order": True})

    def test_no_rule_no_notice_and_no_query_at_intake(self):
        self.rule.active = False
        self.receive(self.order_data("Q1"))
        self.assertFalse(self.notices())
        # Cached per process: intake asks without a query.
        self.env["sale.channel.notify.rule"]._listened_events()
        with self.assertQueryCount(0):
            self.env["sale.channel.notify.rule"]._listened_events()

    def test_each_event_kind_makes_a_notice(self):
        inbox = self.receive(self.order_data("E1"))
        bad = self.bad_order("E2")
        review = self.receive(self.order_data("E3", total=69.57))
        self.run_cron()
        self.assertEqual((bad.state, review.state), ("error", "needs_review"))
        self.channel.write({"last_error": "HTTP 401 — wrong key", "last_error_date": fields.Datetime.now()})
        # A channel already failing is not told again at every failed call.
        self.channel.write({"last_error": "HTTP 401 — still", "last_error_date": fields.Datetime.now()})
        run = self.env["sale.channel.sync"].create({"channel_id": self.channel.id, "trigger": "manual"})
        run.write({"state": "failed", "message": "HTTP 503"})
        order = self.env["sale.order"].create({"partner_id": self.env.user.partner_id.id})
        message = self.env["sale.channel.outbox"].create({
            "channel_id": self.channel.id, "sale_order_id": order.id, "external_id": "E1", "store_status": "completed"})
        message._give_up("HTTP 400 — invalid status")
        events = {}
        for notice in self.notices():
            events.setdefault(notice.event, []).append(notice)
        self.assertEqual({event: len(found) for event, found in events.items()}, {
            "new_order": 3, "error": 1, "needs_review": 1, "channel_failing": 1, "sync_failure": 1,
            "outbox_failure": 1})
        self.assertEqual(events["error"][0].order_id, bad)
        # The step, not the error's text (it may quote what the store sent).
        self.assertIn("Products", events["error"][0].body)
        self.assertNotIn("SI-MISSING", events["error"][0].body)
        self.assertIn(f"/odoo/sale.inbox.order/{bad.id}", events["error"][0].body)
        self.assertIn("#E1", self.notices(event="new_order", order_id=inbox.id).subject)
        self.assertNotIn("Anna", " ".join(self.notices().mapped("body") + self.notices().mapped("subject")),
                         "no customer's name in what leaves Odoo")

    def test_a_channel_failing_again_after_a_success_is_told_again(self):
        """An error stays written on the channel after a poll proved it past: failing anew
        is still news (it was told once, then never again)."""
        self.channel.write({"last_error": "HTTP 401 — wrong key", "last_error_date": fields.Datetime.now()})
        self.channel.write({"last_polled_at": fields.Datetime.now() + timedelta(seconds=5)})
        self.channel.write({"last_error": "HTTP 503", "last_error_date": fields.Datetime.now() + timedelta(seconds=10)})
        self.assertEqual(len(self.notices(event="channel_failing")), 2)

    def test_an_order_failing_again_is_not_told_twice(self):
        rule = self.rule
        rule.on_new_order = False
        bad = self.bad_order("T1")
        self.run_cron()
        bad.action_retry()
        self.assertEqual(bad.state, "error")
        self.assertEqual(len(self.notices(event="error")), 1)

    def test_discuss_target_posts_in_the_channel(self):
        self.receive(self.order_data("D1"))
        self.assertEqual(self.send(), 1)
        notice = self.notices()
        self.assertEqual(notice.state, "sent")
        posted = self.discuss.message_ids.filtered(lambda m: "#D1" in (m.body or ""))
        self.assertEqual(len(posted), 1)
        self.assertEqual(posted.author_id, self.env.ref("base.partner_root"))

    def test_a_notice_that_crashes_does_not_hold_up_the_others(self):
        """Fault injection: posting to one Discuss channel raises something nobody foresaw.
        The other rule's notices go; the crashed one keeps its error and is tried again later."""
        broken = self.env["discuss.channel"].create({"name": "broken-channel"})
        bad_rule = self.env["sale.channel.notify.rule"].create({
            "channel_id": self.channel.id, "target": "discuss", "discuss_channel_id": broken.id,
            "on_new_order": True})
        Notice = type(self.env["sale.inbox.notice"])
        original = Notice._deliver_discuss

        def deliver(records, rule, subject, body, start=0):
            if rule.discuss_channel_id == broken:
                raise RuntimeError("the discuss channel exploded")
            return original(records, rule, subject, body, start)

        for number in ("K1", "K2"):
            self.receive(self.order_data(number))
        with patch.object(Notice, "_deliver_discuss", deliver):
            self.send()
        self.assertEqual(set(self.notices(rule_id=self.rule.id).mapped("state")), {"sent"})
        crashed = self.notices(rule_id=bad_rule.id)
        self.assertEqual(set(crashed.mapped("state")), {"pending"})
        self.assertEqual(set(crashed.mapped("attempts")), {1})
        self.assertIn("RuntimeError: the discuss channel exploded", crashed[0].last_error)
        self.assertFalse(broken.message_ids.filtered(lambda m: "#K1" in (m.body or "")))
        # Mended, and the time come: sent.
        crashed.sudo().write({"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
        self.send()
        self.assertEqual(set(crashed.mapped("state")), {"sent"})

    def test_a_rule_turned_off_sends_nothing_more(self):
        self.receive(self.order_data("Z1"))
        self.rule.active = False
        self.send()
        self.assertEqual(self.notices().state, "cancelled")
        self.assertFalse(self.discuss.message_ids.filtered(lambda m: "#Z1" in (m.body or "")))

    def test_email_target_queues_a_mail(self):
        self.rule.active = False
        self.env["sale.channel.notify.rule"].create({
            "channel_id": self.channel.id, "target": "email", "user_ids": [Command.set(self.manager.ids)],
            "email_to": "ops@example.com", "on_new_order": True})
        self.receive(self.order_data("M1"))
        self.send()
        mail = self.env["mail.mail"].search([("subject", "like", "#M1")])
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.email_to, "ops@example.com")
        self.assertEqual(mail.recipient_ids, self.manager.partner_id)
        self.assertEqual(mail.state, "outgoing")

    def test_intake_and_processing_go_on_when_notices_cannot_be_recorded(self):
        """Fault injection: the queue's insert raises; the orders are stored and processed."""
        Notice = type(self.env["sale.inbox.notice"])

        def broken_record(records, items):
            raise RuntimeError("notice queue broken")

        with patch.object(Notice, "_record", broken_record), self.assertLogs(
                "odoo.addons.sale_inbox.models.sale_inbox_notice", "ERROR") as logs:
            good = self.receive(self.order_data("I1"))
            bad = self.bad_order("I2")
            self.run_cron()
        self.assertEqual((good.state, bad.state), ("done", "error"))
        self.assertTrue(good.sale_order_id.invoice_ids)
        self.assertFalse(self.notices())
        self.assertTrue(any("could not be queued" in line for line in logs.output))


@tagged("post_install", "-at_install")
class TestTelegram(NotifyFixtures, TransactionCase):

    def setUp(self):
        super().setUp()
        self.bot = self.start_telegram()

    def test_the_cron_sends_to_telegram(self):
        self.telegram_rule(self.bot, on_new_order=True)
        self.receive(self.order_data("T1"))
        self.send()
        self.assertEqual(self.notices().state, "sent")
        [text] = self.bot.texts(CHAT)
        self.assertIn("New order #T1 in Test shop", text)
        self.assertIn("69.58", text)

    def test_retry_after_is_honoured(self):
        self.telegram_rule(self.bot, on_new_order=True)
        self.bot.flood_control(CHAT, 600)
        before = fields.Datetime.now()
        self.receive(self.order_data("T2"))
        self.send()
        notice = self.notices()
        self.assertEqual((notice.state, notice.attempts), ("pending", 1))
        self.assertIn("flood control", notice.last_error)
        self.assertGreaterEqual(notice.next_attempt_at, before + timedelta(seconds=600))
        # Not before: the job leaves it alone until then.
        self.send()
        self.assertEqual(notice.attempts, 1)
        self.assertEqual(len(self.bot.server.calls("POST", f"/bot{self.bot.token}/sendMessage")), 1)
        # Once the time has come, it goes.
        notice.sudo().next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
        self.send()
        self.assertEqual(notice.state, "sent")
        self.assertEqual(len(self.bot.texts(CHAT)), 1)

    def test_one_chat_not_found_among_good_ones(self):
        """Fault injection: one rule's chat does not exist (Telegram 400). The notices of the
        other rules are sent; the bad one is parked with Telegram's words, visible on the
        channel, and Retry sends it once the chat id is mended."""
        good = self.telegram_rule(self.bot, CHAT, on_new_order=True)
        bad = self.telegram_rule(self.bot, "-999", on_new_order=True)
        other = self.telegram_rule(self.bot, OTHER_CHAT, on_new_order=True)
        for number in ("P1", "P2"):
            self.receive(self.order_data(number))
        self.send()
        self.assertEqual(len(self.bot.texts(CHAT)), 2)
        self.assertEqual(len(self.bot.texts(OTHER_CHAT)), 2)
        self.assertEqual(set(self.notices(rule_id=good.id).mapped("state")), {"sent"})
        self.assertEqual(set(self.notices(rule_id=other.id).mapped("state")), {"sent"})
        failed = self.notices(rule_id=bad.id)
        self.assertEqual(set(failed.mapped("state")), {"failed"})
        self.assertIn("chat not found", failed[0].last_error)
        self.assertEqual(self.channel.notice_problem_count, 2)
        self.assertEqual(bad.failed_count, 2)
        # Mended and retried by a manager.
        bad.telegram_chat_id = OTHER_CHAT
        failed.with_user(self.manager).action_retry()
        self.send()
        self.assertEqual(set(failed.mapped("state")), {"sent"})
        self.assertEqual(len(self.bot.texts(OTHER_CHAT)), 4)
        self.channel.invalidate_recordset(["notice_problem_count"])
        self.assertEqual(self.channel.notice_problem_count, 0)

    def test_an_outage_is_retried_with_back_off_and_parked_after_the_last_attempt(self):
        self.telegram_rule(self.bot, on_new_order=True)
        self.bot.server.route("POST", f"/bot{self.bot.token}/sendMessage", status=502, json="Bad Gateway")
        self.receive(self.order_data("O1"))
        notice = self.notices()
        waits = []
        for _attempt in range(MAX_ATTEMPTS):
            notice.sudo().next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
            before = fields.Datetime.now()
            self.send()
            if notice.next_attempt_at:
                waits.append((notice.next_attempt_at - before).total_seconds())
        self.assertEqual(waits, sorted(waits), "each wait is longer than the one before")
        self.assertEqual((notice.state, notice.attempts), ("failed", MAX_ATTEMPTS))
        self.assertIn("502", notice.last_error)

    def test_a_long_text_goes_in_parts(self):
        rule = self.telegram_rule(self.bot, on_error=True)
        # Notices of orders name only the step: a long text here is a channel's (a sync run's
        # summary, a store's answer), recorded as the events record theirs.
        long_text = "\n".join(f"SKU LONG-{n} is unknown: link it to a product or create it" for n in range(200))
        self.env["sale.inbox.notice"]._record_safely([{
            "channel_id": self.channel.id, "event": "error", "subject": "Long", "body": long_text}])
        self.send()
        notice = self.notices(rule_id=rule.id, event="error")
        self.assertEqual(notice.state, "sent")
        texts = self.bot.texts(CHAT)
        self.assertGreater(len(texts), 2)
        self.assertTrue(all(len(text) <= 4096 for text in texts))
        self.assertIn("LONG-199", texts[-1])

    def test_send_test_message_shows_telegrams_answer(self):
        rule = self.telegram_rule(self.bot)
        action = rule.with_user(self.manager).action_send_test_message()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("Test message", self.bot.texts(CHAT)[0])
        rule.telegram_chat_id = "-404"
        action = rule.with_user(self.manager).action_send_test_message()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("chat not found", action["params"]["message"])
        self.bot.refuse_token("777:wrong")
        rule.write({"telegram_token": "777:wrong", "telegram_chat_id": CHAT})
        action = rule.with_user(self.manager).action_send_test_message()
        self.assertIn("token is wrong", action["params"]["message"])
        self.assertNotIn("777:wrong", action["params"]["message"])


@tagged("post_install", "-at_install")
class TestNotifySecurity(NotifyFixtures, TransactionCase):

    def setUp(self):
        super().setUp()
        self.bot = self.start_telegram()
        self.rule = self.telegram_rule(self.bot)

    def test_a_manager_names_only_a_conversation_they_can_read(self):
        """Notices are posted as superuser: a rule must not let a manager write into a private
        conversation of others."""
        private = self.env["discuss.channel"].create({"name": "board", "channel_type": "group"})
        with self.assertRaises(AccessError):
            self.env["sale.channel.notify.rule"].with_user(self.manager).create({
                "channel_id": self.channel.id, "target": "discuss", "discuss_channel_id": private.id})

    def test_a_user_cannot_read_the_bot_token(self):
        rule = self.rule.with_user(self.user)
        self.assertEqual(rule.read(["telegram_chat_id"])[0]["telegram_chat_id"], CHAT)
        with self.assertRaises(AccessError):
            rule.read(["telegram_token"])
        with self.assertRaises(AccessError):
            self.env["sale.channel.notify.rule"].with_user(self.user).search_read(
                [("id", "=", self.rule.id)], ["telegram_token"])
        self.assertNotIn("telegram_token", self.env["sale.channel.notify.rule"].with_user(self.user).fields_get())
        self.assertEqual(self.rule.with_user(self.manager).telegram_token, self.bot.token)

    def test_a_user_cannot_send_a_test_message_nor_change_rules(self):
        with self.assertRaises(AccessError):
            self.rule.with_user(self.user).action_send_test_message()
        self.assertEqual(self.bot.server.requests, [], "refused before Telegram hears of it")
        with self.assertRaises(AccessError):
            self.rule.with_user(self.user).write({"telegram_chat_id": "1"})
        with self.assertRaises(AccessError):
            self.env["sale.channel.notify.rule"].with_user(self.user).create({
                "channel_id": self.channel.id, "target": "telegram", "telegram_chat_id": "1"})

    def test_a_user_cannot_retry_or_cancel_notices(self):
        self.rule.on_new_order = True
        self.receive(self.order_data("U1"))
        notice = self.notices()
        for action in ("action_retry", "action_cancel"):
            with self.assertRaises(AccessError):
                getattr(notice.with_user(self.user), action)()
        self.assertEqual(notice.state, "pending")

    def test_the_views_show_users_no_button_they_may_not_press(self):
        def buttons(model, view_type, user):
            arch = self.env[model].with_user(user).get_views([(False, view_type)])["views"][view_type]["arch"]
            return {button.get("name") for button in etree.fromstring(arch).xpath("//button[@type='object']")}

        views = [("sale.channel.notify.rule", "form"), ("sale.channel.notify.rule", "list"),
                 ("sale.inbox.notice", "list"), ("sale.inbox.notice", "form"), ("sale.channel", "form")]
        mine = {"action_send_test_message", "action_retry", "action_cancel", "action_view_notices"}
        for model, view_type in views:
            with self.subTest(model=model, view=view_type):
                self.assertFalse(buttons(model, view_type, self.user) & mine)
        self.assertIn("action_send_test_message", buttons("sale.channel.notify.rule", "form", self.manager))
        self.assertIn("action_retry", buttons("sale.inbox.notice", "list", self.manager))
        channel_form = self.env["sale.channel"].with_user(self.user).get_views([(False, "form")])
        self.assertIn("notify_rule_ids", channel_form["views"]["form"]["arch"])

    def test_another_companys_rules_and_notices_stay_there(self):
        other = self.env["res.company"].create({"name": "Notify Other Co"})
        channel = self.env["sale.channel"].create({"name": "Other shop", "company_id": other.id})
        self.env["sale.channel.notify.rule"].create({
            "channel_id": channel.id, "target": "telegram", "telegram_chat_id": CHAT, "on_new_order": True})
        self.receive(self.order_data("X1"), channel=channel)
        self.assertTrue(self.env["sale.inbox.notice"].search([("channel_id", "=", channel.id)]))
        as_manager = self.env["sale.inbox.notice"].with_user(self.manager)
        self.assertFalse(as_manager.search([("channel_id", "=", channel.id)]))
        self.assertFalse(self.env["sale.channel.notify.rule"].with_user(self.manager).search(
            [("channel_id", "=", channel.id)]))


@tagged("post_install", "-at_install")
class TestNotifyRpc(NotifyFixtures, HttpCase):
    """As an attacker would: a Sales Inbox User calling over JSON-RPC what the form hides."""

    def setUp(self):
        super().setUp()
        self.bot = self.start_telegram()
        self.rule = self.telegram_rule(self.bot)
        self.authenticate("notify_user", "notify_user")

    def call(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": model, "method": method, "args": list(args), "kwargs": kwargs})

    def test_a_user_reads_the_rule_but_not_the_bot_token(self):
        [rule] = self.call("sale.channel.notify.rule", "read", [self.rule.id], ["telegram_chat_id", "target"])
        self.assertEqual(rule["telegram_chat_id"], CHAT)
        for method, args in (("read", ([self.rule.id], ["telegram_token"])),
                             ("web_read", ([self.rule.id],)),
                             ("search_read", ([("id", "=", self.rule.id)], ["telegram_token"]))):
            with self.subTest(method=method):
                try:
                    answer = self.call("sale.channel.notify.rule", method, *args,
                                       **({"specification": {"telegram_token": {}}} if method == "web_read" else {}))
                except JsonRpcException as exc:
                    self.assertEqual(exc.args[0], "odoo.exceptions.AccessError")
                else:
                    self.assertNotIn(self.bot.token, str(answer))

    def test_a_user_cannot_press_send_test_message(self):
        with self.assertRaises(JsonRpcException) as caught:
            self.call("sale.channel.notify.rule", "action_send_test_message", [self.rule.id])
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertEqual(self.bot.server.requests, [], "refused before Telegram hears of it")
