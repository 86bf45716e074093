
"""The processing jobs as Odoo's cron runners run them: within the workers' limits, several
runners (cron threads, servers) at once, and on again at once when a run stops with work left.
"""
import contextlib
import json
import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, TransactionCase, tagged
from odoo.tests.common import get_db_name
from odoo.tools import config

from odoo.addons.sale_inbox.models import sale_inbox_order

PROCESS_CRONS = [
    "sale_inbox.ir_cron_process_inbox",
    "sale_inbox.ir_cron_process_inbox_2",
    "sale_inbox.ir_cron_process_inbox_3",
    "sale_inbox.ir_cron_process_inbox_4",
]
CUSTOMER = {"id": "runner-cust-1", "email": "runner.customer@example.com", "name": "Runner Customer"}


@tagged("post_install", "-at_install")
class TestCronRunners(TransactionCase):

    def test_a_run_fits_in_the_limits_odoo_gives_a_cron_worker(self):
        """Odoo kills a cron worker after limit_time_real seconds (its sleep before the run
        included) and stops it after limit_time_cpu seconds of CPU: a run must end well
        before, or it loses its batch and, three times in a row, the job is skipped."""
        Inbox = self.env["sale.inbox.order"]
        defaults = {"workers": 2, "limit_time_real": 120, "limit_time_real_cron": -1, "limit_time_cpu": 60}
        with patch.dict(config.options, defaults):
            self.assertLessEqual(Inbox._cron_time_budget(), 30)
        with patch.dict(config.options, dict(defaults, limit_time_real_cron=40)):
            self.assertLessEqual(Inbox._cron_time_budget(), 10)
        with patch.dict(config.options, dict(defaults, workers=0, limit_time_real_cron=0)):
            self.assertGreater(Inbox._cron_time_budget(), 30, "no limit in threaded mode: the longer budget")


@tagged("post_install", "-at_install")
class TestCronRunnersCommitting(BaseCase):
    """Runs that commit, as cron workers do: committed data, removed afterwards."""

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.product_id = env["product.product"].create({
                "name": "Runner product", "default_code": "RUNNER-SKU", "list_price": 10.0,
                "taxes_id": [Command.clear()],
            }).id
            # A quotation per order: what runners contend for here is the customer.
            channel = env["sale.channel"].create({
                "name": "Runner shop", "api_key": "runner-key-3e1a", "auto_process": True,
                "document_type": "quotation", "add_payment": False,
            })
            self.channel_id = channel.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT partner_id FROM sale_order WHERE channel_id = %s", (self.channel_id,))
            partners = [row[0] for row in cr.fetchall()]
            cr.execute("DELETE FROM sale_order WHERE channel_id = %s", (self.channel_id,))
            for table in ("sale_inbox_delivery", "sale_inbox_order", "sale_channel_partner"):
                cr.execute(f"DELETE FROM {table} WHERE channel_id = %s", (self.channel_id,))
            cr.execute("DELETE FROM sale_channel WHERE id = %s", (self.channel_id,))
            cr.execute("DELETE FROM res_partner WHERE email = %s OR parent_id = ANY(%s) OR id = ANY(%s)",
                       (CUSTOMER["email"], partners, partners))
            cr.execute("DELETE FROM product_product WHERE id = %s RETURNING product_tmpl_id", (self.product_id,))
            cr.execute("DELETE FROM product_template WHERE id = %s", (cr.fetchone()[0],))

    def _receive(self, count):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["sale.channel"].browse(self.channel_id)
            for index in range(count):
                body = json.dumps({
                    "id": f"runner-{index}", "currency": env.company.currency_id.name, "total": 10,
                    "customer": CUSTOMER, "lines": [{"sku": "RUNNER-SKU", "quantity": 1, "unit_price": 10}],
                }).encode()
                env["sale.inbox.order"]._receive(channel, body, "application/json")

    def _states(self):
        with self.registry.cursor() as cr:
            cr.execute("""
                SELECT o.state, count(*), count(DISTINCT s.id)
                  FROM sale_inbox_order o LEFT JOIN sale_order s ON s.inbox_order_id = o.id
                 WHERE o.channel_id = %s GROUP BY o.state
            """, (self.channel_id,))
            return {state: (orders, sale_orders) for state, orders, sale_orders in cr.fetchall()}

    def _run(self, **kwargs):
        """One cron run in its own transactions, committed batch by batch as a cron worker's."""
        thread = threading.current_thread()
        testing = getattr(thread, "testing", False)
        thread.testing = False
        try:
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                return env["sale.inbox.order"]._cron_process(**kwargs)
        finally:
            thread.testing = testing
            # What the run learnt of this thread's speed would size the next test's batches.
            vars(sale_inbox_order._RUNNER).clear()

    def _sibling_triggers(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            ids = {env.ref(xmlid).id: xmlid for xmlid in PROCESS_CRONS[1:]}
            cr.execute("SELECT DISTINCT cron_id FROM ir_cron_trigger WHERE cron_id IN %s", (tuple(ids),))
            return {ids[row[0]] for row in cr.fetchall()}

    def _run_watching_first_batch(self, **kwargs):
        """Run, and return which other processing jobs were woken while the first batch was
        being made (what another runner would have seen)."""
        seen = []
        Processor = self.registry["sale.inbox.processor"]
        build = Processor._step_customers

        def build_and_look(processor, run, orders):
            if not seen:
                seen.append(self._sibling_triggers())
            return build(processor, run, orders)

        with patch.object(Processor, "_step_customers", build_and_look):
            self._run(**kwargs)
        return seen[0]

    def test_more_than_a_batch_waiting_wakes_the_other_runners(self):
        self._receive(5)
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id IN (SELECT res_id FROM ir_model_data "
                       "WHERE module = 'sale_inbox' AND name LIKE 'ir_cron_process_inbox_%%')")
        # Five orders in batches of two: this run takes one batch, two more runners the others.
        self.assertEqual(self._run_watching_first_batch(batch_size=2, time_budget=60), set(PROCESS_CRONS[1:3]))
        self.assertEqual(self._states(), {"done": (5, 5)}, "no other runner came: this one did it all")
        self.assertEqual(self._sibling_triggers(), set(), "the wake-ups no runner took are withdrawn")

    def test_a_failing_run_still_withdraws_the_wake_ups_of_the_other_jobs(self):
        """Else the same cron worker runs them next in its iteration, each for a budget (and
        failing the same way), past Odoo's limits."""
        self._receive(5)
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id IN (SELECT res_id FROM ir_model_data "
                       "WHERE module = 'sale_inbox' AND name LIKE 'ir_cron_process_inbox_%%')")

        def broken(orders, automatic=True):
            # Orders are isolated from each other inside; this is the run itself failing.
            raise RuntimeError("an unexpected error in the processing run")

        with patch.object(self.registry["sale.inbox.order"], "_process_isolated", broken), \
                self.assertRaises(RuntimeError):
            self._run(batch_size=2, time_budget=60)
        self.assertEqual(self._sibling_triggers(), set())
        self._run(time_budget=60)  # for the cleanup
        self.assertEqual(self._states(), {"done": (5, 5)})

    def test_one_batch_waiting_wakes_no_other_runner(self):
        self._receive(2)
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id IN (SELECT res_id FROM ir_model_data "
                       "WHERE module = 'sale_inbox' AND name LIKE 'ir_cron_process_inbox_%%')")
        self.assertEqual(self._run_watching_first_batch(batch_size=2, time_budget=60), set())

    def _two_runners_meeting_in(self, owner, name):
        """Run two runners at once, both stopping at ``owner.name`` until the other is there;
        returns (orders each processed, errors)."""
        meeting = threading.Barrier(2, timeout=10)
        original = getattr(owner, name)
        met = set()

        def together(*args, **kwargs):
            if threading.get_ident() not in met:
                met.add(threading.get_ident())
                # A runner that finds no work never comes: the other goes on alone.
                with contextlib.suppress(threading.BrokenBarrierError):
                    meeting.wait()
            return original(*args, **kwargs)

        errors, done = [], []

        def runner():
            try:
                done.append(self._run(batch_size=2, time_budget=60))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        with patch.object(owner, name, together):
            threads = [threading.Thread(target=runner) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
        return done, errors

    def _assert_done_once(self, done, errors):
        self.assertFalse(errors, errors)
        self.assertEqual(sum(done), 4)
        self.assertEqual(self._states(), {"done": (4, 4)}, "every order done, one sales order each")
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM res_partner WHERE email = %s AND parent_id IS NULL",
                       (CUSTOMER["email"],))
            self.assertEqual(cr.fetchone()[0], 1, "the customer is created once")

    def test_two_runners_with_a_new_customer_in_common_both_finish(self):
        """Two runners claim a batch each at the same moment, with one new customer in
        common: one leaves its orders of that customer for later rather than wait for the
        other's batch and then fail on the customer's store id."""
        self._receive(4)
        Inbox = self.registry["sale.inbox.order"]
        done, errors = self._two_runners_meeting_in(Inbox, "_without_busy_customers")
        self._assert_done_once(done, errors)
        self.assertEqual(sorted(done), [0, 4], "the second runner left that customer's orders to the first")

    def test_a_batch_that_meets_a_concurrent_commit_is_claimed_again(self):
        """Two batches create the same new customer (one got past the customer lock, as in
        the moment between a claim and that lock): the second meets the first's store id
        on commit, and its batch is rolled back and claimed again, not abandoned."""
        self._receive(4)
        Inbox = self.registry["sale.inbox.order"]
        with patch.object(Inbox, "_without_busy_customers", lambda self: self):
            done, errors = self._two_runners_meeting_in(self.registry["sale.inbox.processor"], "_step_customers")
        self._assert_done_once(done, errors)

    def test_a_run_out_of_time_has_its_job_run_again_at_once(self):
        """A run that stops for its time budget with orders left triggers its job again, so
        that a cron worker takes it up in its next iteration rather than at the interval."""
        self._receive(3)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cron_id = env.ref(PROCESS_CRONS[0]).id
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (cron_id,))
        processed = self._run(batch_size=1, time_budget=0)
        self.assertEqual(processed, 1, "one batch, then the budget is spent")
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s", (cron_id,))
            self.assertTrue(cr.fetchone()[0], "the job is ready again")
        # The test database's cron is not running: empty the inbox for the cleanup.
        self._run(time_budget=60)
        self.assertEqual(self._states(), {"done": (3, 3)})
