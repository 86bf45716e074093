"""Users never meet an Access Error from a button they are shown.

For every form, list and kanban view of the addon (its own models, and the views it extends),
the test asks Odoo for the view as a Sales Inbox User and as a Manager (``get_views``, which
drops what the user's groups do not show), collects every button of the addon that calls a
method or opens an action, and clicks it as that user on a record whose state shows it (its
``invisible`` expression evaluated on the record). A button may refuse with a UserError that
says why; an AccessError, an unexpected exception, or Odoo's refusal to post for a user
without an e-mail address is a failure. Neither user has an e-mail address: the addon's own
chatter entries must not need one.

A button the test cannot find a record for is a failure too, naming the button, so that a
new button of a model with records here cannot go unclicked.
"""
import json
import logging
from collections import defaultdict

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from odoo.addons.sale_inbox.platforms.ozon.fake import FakeOzon
from odoo.addons.sale_inbox.platforms.testing import FakeIdoSell, FakeStore

from .common import InboxFixtures

_logger = logging.getLogger(__name__)

#: Odoo's refusal to post a message for a user without an e-mail address.
NO_SENDER = "sender's email address"


@tagged("post_install", "-at_install")
class TestButtonsForUsers(InboxFixtures, TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        env = cls.env
        cls.user = new_test_user(env, "inbox_user_buttons", groups="sale_inbox.group_sale_inbox_user",
                                 email=False)
        cls.manager = new_test_user(env, "inbox_manager_buttons", groups="sale_inbox.group_sale_inbox_manager",
                                    email=False)
        cls.store = FakeStore()
        cls.store.start()
        cls.addClassCleanup(cls.store.stop)
        FakeIdoSell(cls.store, [], api_key="ido-key")
        cls._make_records()

    @classmethod
    def _make_records(cls):
        """Records in the states that show each button, made as the addon makes them."""
        env = cls.env
        test = cls("test_buttons_shown_to_a_user_work_for_them")  # order_data and receive are the instance's
        # The Connect channel: an order done, one waiting for review (totals differ), one in
        # error (a SKU Odoo does not know), one stopped at the documents check, one cancelled.
        done = test.receive(test.order_data("B-1"))
        review = test.receive(test.order_data("B-2", total=70.58))
        unknown = test.receive(test.order_data("B-3", lines=[{"sku": "NOPE", "quantity": 1, "unit_price": 5}]))
        foreign = test.receive(test.order_data("B-4"))
        cancelled = test.receive(test.order_data("B-5"))
        unmapped_data = test.order_data("B-8")
        unmapped_data["payment"].update(method="banklink", method_name="Bank link")
        unmapped = test.receive(unmapped_data)
        store_cancelled = test.receive(test.order_data("B-9"))
        cls.env["sale.inbox.order"]._cron_process()
        # A marketplace's cancellation waiting for its goods (Goods Returned), as processing
        # records it (see sale_inbox_cancellation).
        env["sale.inbox.cancellation"].create({
            "name": "B-9", "channel_id": cls.channel.id, "inbox_order_id": store_cancelled.id,
            "sale_order_id": store_cancelled.sale_order_id.id, "action": "waiting", "reason": "Out of stock"})
        assert unmapped.problem_ids.filtered(lambda p: p.kind == "method_unmapped"), unmapped.error_message
        foreign._fail("order", "A sales order of another origin is linked.")
        cancelled.sudo().write({"state": "cancelled"})
        assert done.state == "done" and review.state == "needs_review" and unknown.state == "error", \
            (done.state, review.state, unknown.state)
        # A channel processed by hand: its orders stay new.
        manual = env["sale.channel"].create({"name": "By hand", "platform": "connect", "auto_process": False,
                                             "api_key": "buttons-manual-key"})
        test.receive(test.order_data("B-6"), channel=manual)
        # Cancelled before it became a document: it can go back to the inbox.
        test.receive(test.order_data("B-7"), channel=manual).sudo().write({"state": "cancelled"})
        env["sale.channel"].create({"name": "Switched off", "platform": "connect", "state": "disconnected",
                                    "api_key": "buttons-off-key"})
        # A store with an API (IdoSell, on the fake store): stock, statuses both ways, its
        # products in the store and its status outbox.
        cls.idosell = env["sale.channel"].create({
            "name": "IdoSell shop", "platform": "idosell", "store_url": cls.store.url, "api_secret": "ido-key",
            "store_timezone": "Europe/Warsaw", "status_sync": "both", "auto_process": False,
        })
        cls.woo = env["sale.channel"].create({
            "name": "Woo shop", "platform": "woocommerce", "store_url": cls.store.url, "api_key": "ck_x",
            "api_secret": "cs_x", "webhook_secret": "whsec",
        })
        env["sale.channel"].create({"name": "Mozello shop", "platform": "mozello", "store_url": cls.store.url,
                                    "api_secret": "mozello-key"})
        # A marketplace (Ozon, on the same fake store): its warehouses, a notified posting to
        # read, and an order the merchant packs (FBS), whose delivery shows Mark Assembled in
        # Store and Print Marketplace Labels.
        ozon = FakeOzon(cls.store)
        ozon_channel = env["sale.channel"].create({
            "name": "Ozon shop", "platform": "ozon", "store_url": cls.store.url, "api_login": ozon.client_id,
            "api_secret": ozon.api_key, "auto_process": True, "auto_confirm": True,
            "store_warehouse_ids": [(0, 0, {"ref": "22000000000001", "name": "Main FBS",
                                            "warehouse_id": env["stock.warehouse"].search(
                                                [("company_id", "=", cls.company.id)], limit=1).id})]})
        env["sale.channel.reread"]._queue(ozon_channel, [("B-9-2", "")])
        # The marketplace's settlement periods (the fake Ozon's statements, in the channel's
        # currency), read and reconciled; a fee of the channel to book.
        ozon.currency = ozon_channel._fee_currency().name
        env["sale.channel.payout"]._read_channel_isolated(ozon_channel)
        ozon.service_operation("3.00")
        env["sale.channel.fee"]._read_channel_fees(ozon_channel)
        posting = ozon.add_posting(ozon.fbs_posting("B-9-1", [("SI-MUG", 1, "12.50", 11)]))
        for product in posting["products"]:
            product["currency_code"] = cls.currency.name
        body = json.dumps(dict(ozon.public(posting), sale_inbox_scheme="fbs")).encode()
        posted = env["sale.inbox.order"].sudo().browse(
            env["sale.inbox.order"].sudo()._receive(ozon_channel, body, "application/json")[0])
        env["sale.inbox.order"]._cron_process()
        assert posted.sale_order_id.picking_ids, (posted.state, posted.error_message)
        rows = env["sale.channel.product"].create([
            {"channel_id": cls.idosell.id, "product_id": cls.mug.id, "sku": "SI-MUG", "state": "mapped",
             "store_quantity": 3, "odoo_quantity": 5, "differs": True},
            {"channel_id": cls.idosell.id, "product_id": cls.tee.id, "sku": "SI-TEE", "state": "not_in_store"},
        ])
        # A product's stock at a store warehouse (stores with warehouses of their own: Ozon).
        store_warehouse = env["sale.channel.warehouse"].create({"channel_id": cls.idosell.id, "ref": "1", "name": "W"})
        env["sale.channel.product.stock"].create({
            "product_row_id": rows[0].id, "channel_id": cls.idosell.id, "company_id": cls.idosell.company_id.id,
            "store_warehouse_id": store_warehouse.id})
        so = done.sale_order_id
        env["sale.channel.outbox"].create([
            {"channel_id": cls.idosell.id, "sale_order_id": so.id, "external_id": "B-1",
             "odoo_stage": "delivered", "store_status": "finished", "state": state}
            for state in ("pending", "failed", "sent")
        ])
        env["sale.channel.payment.method"].create({"channel_id": cls.idosell.id, "code": "cod", "name": "COD"})
        # The Import Orders wizard, as a manager opens it.
        env["sale.channel.import"].with_user(cls.manager).create({"channel_id": cls.idosell.id})
        # A notification rule of the channel, and a notice it could not send.
        rule = env["sale.channel.notify.rule"].create({
            "channel_id": cls.woo.id, "target": "discuss",
            "discuss_channel_id": env["discuss.channel"].create({"name": "Shop orders"}).id})
        env["sale.inbox.notice"].create({
            "rule_id": rule.id, "channel_id": cls.woo.id, "company_id": cls.woo.company_id.id, "event": "error",
            "subject": "Order in error", "body": "B-3 stopped", "state": "failed", "last_error": "refused"})
        # Link Product's dialog, as a manager opens it from an order stopped by an unknown SKU.
        env["sale.inbox.link.product"].with_user(cls.manager).create({"order_id": unknown.id, "sku": "NOPE"})

    # ------------------------------------------------------------------
    # The views as a user gets them
    # ------------------------------------------------------------------

    def _addon_views(self):
        """(model, primary view) of every form, list and kanban view the addon defines or extends."""
        View = self.env["ir.ui.view"]
        ids = self.env["ir.model.data"].search([("module", "=", "sale_inbox"), ("model", "=", "ir.ui.view")])
        found = set()
        for view in View.browse(ids.mapped("res_id")):
            if view.type not in ("form", "list", "kanban"):
                continue
            while view.mode != "primary" and view.inherit_id:
                view = view.inherit_id
            found.add((view.model, view))
        return sorted(found, key=lambda item: (item[0], item[1].id))

    def _addon_button_names(self):
        """(model of the view, name) of the buttons written in the addon's own views (not Odoo's
        on the same views: a button of ours named like one of Odoo's on another model, such as a
        wizard's ``action_confirm``, does not make Odoo's ours)."""
        names = set()
        ids = self.env["ir.model.data"].search([("module", "=", "sale_inbox"), ("model", "=", "ir.ui.view")])
        for view in self.env["ir.ui.view"].browse(ids.mapped("res_id")):
            for button in etree.fromstring(view.arch_db.encode()).iter("button"):
                if button.get("type") in ("object", "action") and button.get("name"):
                    names.add((view.model, button.get("name")))
        return names

    def _buttons(self, user):
        """{(model, path of one2many fields, name, type): [invisible expressions]} as shown to ``user``."""
        ours = self._addon_button_names()
        buttons = defaultdict(list)
        for model, view in self._addon_views():
            if not self.env[model].with_user(user).has_access("read"):
                continue  # never shown to them (the Settings are the administrators')
            result = self.env[model].with_user(user).get_views([(view.id, view.type)])
            arch = etree.fromstring(result["views"][view.type]["arch"])
            fields_of = {name: spec["fields"] for name, spec in result["models"].items()}
            for button in arch.iter("button"):
                kind, name = button.get("type"), button.get("name")
                if kind not in ("object", "action") or (model, name) not in ours:
                    continue
                path, sub_model = [], model
                for ancestor in reversed(list(button.iterancestors())):
                    if ancestor.tag == "field" and ancestor.get("name") in fields_of.get(sub_model, {}):
                        path.append(ancestor.get("name"))
                        sub_model = fields_of[sub_model][ancestor.get("name")]["relation"]
                buttons[(model, tuple(path), name, kind)].append(
                    (button.get("invisible") or "False", fields_of.get(sub_model, {})))
        return buttons

    # ------------------------------------------------------------------
    # Records that show a button
    # ------------------------------------------------------------------

    def _values(self, record, fields):
        """The record's values as a view's ``invisible`` expression sees them."""
        values = {"context": {}, "uid": record.env.uid, "True": True, "False": False, "None": None}
        data = record.read([name for name in fields if name in record._fields])[0]
        for name, value in data.items():
            if isinstance(value, tuple):  # many2one: (id, name)
                value = value[0]
            values[name] = value
        return values

    def _shown_on(self, user, model, path, invisible, fields):
        """(record to click on, its parent or None) pairs where the button is shown."""
        roots = self.env[model].with_user(user).search([])
        if model == "sale.order":
            roots = roots.filtered("inbox_order_id")
        pairs = []
        for root in roots:
            record, parent = root, None
            for name in path:
                parent, record = record, record[name]
            for one in record:
                values = self._values(one, fields)
                if parent is not None:
                    values["parent"] = self._values(parent, parent._fields)
                try:
                    hidden = safe_eval(invisible, values)
                except Exception:  # noqa: BLE001 -- an expression the test cannot evaluate: not shown
                    hidden = True
                if not hidden:
                    pairs.append(one)
        return pairs

    # ------------------------------------------------------------------
    # Clicking
    # ------------------------------------------------------------------

    def _click(self, record, name, kind):
        """Click as the record's user; returns what went wrong, or None."""
        try:
            with self.env.cr.savepoint() as savepoint:
                if kind == "object":
                    result = getattr(record, name)()
                    self._open(record, result)
                else:
                    self._open_action(record, name)
                # Each click on the records as set up: undone, whatever it did.
                savepoint.close(rollback=True)
        except AccessError as exc:
            return f"AccessError: {exc}"
        except UserError as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            if NO_SENDER in message:
                return f"UserError for a user without an e-mail address: {message}"
            _logger.info("%s on %s refused, as it may: %s", name, record, message)
        except Exception as exc:  # noqa: BLE001 -- whatever a user meets is reported
            return f"{type(exc).__name__}: {exc}"
        return None

    def _open(self, record, result):
        """What a button's answer shows the user: a window action's records must be readable."""
        if not isinstance(result, dict) or result.get("type") != "ir.actions.act_window":
            return
        Model = record.env[result["res_model"]]
        if result.get("res_id"):
            Model.browse(result["res_id"]).check_access("read")
        else:
            Model.search(result.get("domain") or [], limit=80).read(["display_name"])

    def _open_action(self, record, xml_ref):
        """A type="action" button: the action, and the new record of a wizard it opens."""
        action_id = int(xml_ref) if xml_ref.isdigit() else record.env.ref(xml_ref.strip("%()d")).id
        # The web client loads actions as superuser, refusing those of groups the user is not in.
        action = record.env["ir.actions.act_window"].sudo().browse(action_id)
        if action.groups_id and not (action.groups_id & record.env.user.groups_id):
            raise AccessError(record.env._("The action %s is for other groups.", action.name))
        data = action.read(["res_model", "context", "target"])[0]
        context = safe_eval(data["context"] or "{}", {"active_id": record.id, "active_ids": record.ids,
                                                       "active_model": record._name, "uid": record.env.uid,
                                                       "context": {}})
        Model = record.env[data["res_model"]].with_context(**context)
        if data["target"] == "new":
            Model.create(Model.default_get(list(Model._fields)))
        else:
            Model.search([], limit=1)

    def _check_buttons(self, user):
        problems, unclicked, clicked = [], [], 0
        for (model, path, name, kind), variants in self._buttons(user).items():
            shown = []
            for invisible, fields in variants:
                shown.extend(self._shown_on(user, model, path, invisible, fields))
            if not shown:
                if self.env[model].is_transient():
                    # A dialog this user is never given (its opening button is not theirs, or
                    # refuses them): checked through that button, on the model that shows it.
                    continue
                unclicked.append(f"{model} {'.'.join(path)} {name}")
                continue
            # One record of each model the button is shown on, each in its own state.
            seen = set()
            for record in shown:
                key = (record._name, getattr(record, "state", None), getattr(record, "failed_step", None))
                if key in seen:
                    continue
                seen.add(key)
                clicked += 1
                problem = self._click(record, name, kind)
                if problem:
                    problems.append(f"{user.login}: {record._name} {name} on {record.display_name!r} "
                                    f"(state {key[1]}): {problem}")
        return problems, unclicked, clicked

    def test_buttons_shown_to_a_user_work_for_them(self):
        problems, unclicked, clicked = self._check_buttons(self.user)
        self.assertFalse(problems, "\n".join(problems))
        self.assertFalse(unclicked, "buttons shown to a user on no record here: " + ", ".join(unclicked))
        self.assertGreater(clicked, 8)

    def test_buttons_shown_to_a_manager_work_for_them(self):
        problems, unclicked, clicked = self._check_buttons(self.manager)
        self.assertFalse(problems, "\n".join(problems))
        self.assertFalse(unclicked, "buttons shown to a manager on no record here: " + ", ".join(unclicked))
        self.assertGreater(clicked, 20)

    def test_manager_buttons_are_not_shown_to_a_user(self):
        """The user's views keep none of the manager's buttons (they would be refused)."""
        for_user = {key[2] for key in self._buttons(self.user)}
        for name in ("action_test_connection", "action_sync_now", "action_accept_difference",
                     "action_regenerate_api_key"):
            self.assertNotIn(name, for_user)

    def test_a_person_without_an_email_address_notes_in_the_chatter(self):
        """A manager's correction is noted in the order's chatter as theirs, though they have
        no e-mail address: the entry goes out from the company's address."""
        self.env.company.email = "shop@example.com"
        order = self.env["sale.inbox.order"].search([("external_id", "=", "B-3")])
        corrected = order.normalized.replace('"NOPE"', '"SI-MUG"')
        order.with_user(self.manager).write({"normalized": corrected})
        note = order.message_ids[0]
        self.assertIn("corrected by", note.body)
        self.assertEqual(note.author_id, self.manager.partner_id)
        self.assertIn("shop@example.com", note.email_from)
