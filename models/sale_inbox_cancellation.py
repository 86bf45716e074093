"""Orders a marketplace cancelled (Ozon): one line each, with the marketplace's reason, whether
the goods had left the warehouse, and what Odoo did about it.

A line is written when processing finds a marketplace order cancelled by the store
(``_step_store_cancellations`` of the processor), once per inbox order: a later poll of the
same cancelled posting finds its line and does nothing more. What Odoo does follows the
channel's rules:

- FBS, cancelled within the channel's hours of the posting's creation (0: no limit) while the
  delivery is not done and nothing is invoiced: the sales order and its open delivery are
  cancelled at once. Later, or once the goods left: the goods may be on their way back (or
  handed to the next buyer if stock were freed at once), so a person gets an activity and
  presses *Goods Returned* when they are back: the done delivery is returned (validated) and
  the sales order set back to a quotation; an open delivery is cancelled. With the channel's
  FBO option, the goods go on to the FBO warehouse (an internal transfer, validated) and the
  order is cancelled.
- FBO (the marketplace ships from its own warehouse): applied at once by default (the order
  cancelled; a done delivery returned to the FBO warehouse); with the option off, as above.
- A posted invoice is never undone by itself: a person decides (a credit note), the line waits.
"""
import logging
from datetime import datetime, timezone

from psycopg2 import OperationalError

from odoo import api, fields, models
from odoo.exceptions import UserError

from .sale_channel import USER, check_group_access
from .sale_inbox_job import job_error_text, log_job_error
from .sale_order import FROM_STORE

_logger = logging.getLogger(__name__)

ACTIVITY_TYPE = "sale_inbox.mail_activity_type_store_cancellation"
ACTIONS = [
    ("auto_cancelled", "Cancelled automatically"),
    ("waiting", "Waiting for the goods"),
    ("returned", "Goods returned"),
    ("moved_to_fbo", "Moved to the FBO warehouse"),
    ("nothing", "Nothing to do"),
    ("failed", "Failed"),
]


class SaleInboxCancellation(models.Model):
    _name = "sale.inbox.cancellation"
    _description = "Order Cancelled by a Marketplace"
    _order = "cancelled_at desc, id desc"

    name = fields.Char(string="Store Order", required=True, readonly=True)
    channel_id = fields.Many2one("sale.channel", required=True, readonly=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    inbox_order_id = fields.Many2one("sale.inbox.order", readonly=True, required=True, ondelete="cascade")
    sale_order_id = fields.Many2one("sale.order", string="Sales Order", readonly=True, index="btree_not_null")
    scheme = fields.Selection(
        [("fbs", "FBS (your warehouse)"), ("fbo", "FBO (the marketplace's warehouse)")],
        required=True, readonly=True, default="fbs")
    reason = fields.Char(readonly=True, help="Why the marketplace cancelled, in its words.")
    cancelled_after_ship = fields.Boolean(
        string="Cancelled After Shipping", readonly=True,
        help="The marketplace says the goods had been handed over when it cancelled.")
    goods_left = fields.Boolean(
        string="Goods Had Left", readonly=True,
        help="The goods had left the warehouse: the marketplace says so, or the Odoo delivery was done.")
    posting_created_at = fields.Datetime(string="Ordered On", readonly=True)
    cancelled_at = fields.Datetime(string="Cancellation Seen On", readonly=True, default=fields.Datetime.now)
    hours_after_order = fields.Float(
        string="Hours After the Order", readonly=True, digits=(16, 1),
        help="Hours between the order and the moment Odoo saw it cancelled.")
    action = fields.Selection(ACTIONS, string="What Odoo Did", required=True, readonly=True, default="nothing")
    note = fields.Char(string="Details", readonly=True)
    error = fields.Text(readonly=True)
    picking_ids = fields.Many2many("stock.picking", string="Transfers", readonly=True,
                                   help="The returns and transfers Odoo made for this cancellation.")
    done_by_id = fields.Many2one("res.users", readonly=True)

    _sql_constraints = [
        ("inbox_order_unique", "unique(inbox_order_id)", "An order is cancelled once."),
    ]

    # ------------------------------------------------------------------
    # From processing (superuser)
    # ------------------------------------------------------------------

    @api.model
    def _from_store(self, inbox_order, normalized, channel):
        """The line of a store cancellation, applied by the channel's rules; an existing line
        (a later poll of the same posting) is returned untouched, unless it failed."""
        line = self.search([("inbox_order_id", "=", inbox_order.id)], limit=1)
        if line and line.action != "failed":
            return line
        so = inbox_order.sale_order_id
        created = _naive(normalized.created_at)
        now = fields.Datetime.now()
        values = {
            "name": inbox_order.name or inbox_order.external_id,
            "channel_id": channel.id,
            "inbox_order_id": inbox_order.id,
            "sale_order_id": so.id,
            "scheme": "fbo" if normalized.fulfilled_by == "marketplace" else "fbs",
            "reason": normalized.cancel_reason or False,
            "cancelled_after_ship": normalized.cancelled_after_ship,
            "goods_left": normalized.cancelled_after_ship or bool(so and so._sale_inbox_done_deliveries()),
            "posting_created_at": created,
            "cancelled_at": now,
            "hours_after_order": (now - created).total_seconds() / 3600 if created else 0.0,
            "error": False,
        }
        if line:
            line.write(values)
        else:
            line = self.create(values)
        line._apply_rules()
        return line

    @api.model
    def _record_failure(self, inbox_order, normalized, channel, error):
        """A cancellation that could not be applied: shown on the page, tried again with the
        inbox order (Retry)."""
        values = {"name": inbox_order.name or inbox_order.external_id, "channel_id": channel.id,
                  "inbox_order_id": inbox_order.id, "sale_order_id": inbox_order.sale_order_id.id,
                  "scheme": "fbo" if normalized.fulfilled_by == "marketplace" else "fbs",
                  "reason": normalized.cancel_reason or False, "action": "failed", "error": error,
                  "cancelled_at": fields.Datetime.now(), "posting_created_at": _naive(normalized.created_at)}
        line = self.search([("inbox_order_id", "=", inbox_order.id)], limit=1)
        if line:
            line.write(values)
        else:
            self.create(values)

    def _apply_rules(self):
        self.ensure_one()
        so = self.sale_order_id
        if not so:
            self.write({"action": "nothing", "note": self.env._("Cancelled before it became a sales order.")})
            return
        if so.state == "cancel":
            self.write({"action": "nothing", "note": self.env._("The sales order was cancelled in Odoo first.")})
            return
        so.sudo().store_status = "cancelled"
        channel = self.channel_id
        if so._sale_inbox_posted_invoices():
            self._wait(self.env._("The order is invoiced: decide on a credit note, and press Goods Returned "
                                  "once the goods are back."))
        elif self.scheme == "fbo":
            if channel.cancel_fbo_automatically:
                self._take_back(final=True)
                self.write({"action": "auto_cancelled"})
            else:
                self._wait(self.env._("FBO cancellations wait for a person on this channel."))
        elif self.goods_left:
            self._wait(self.env._("The goods had left the warehouse: press Goods Returned once they are back."))
        elif channel.auto_cancel_hours and self.hours_after_order > channel.auto_cancel_hours:
            self._wait(self.env._("Cancelled %(hours).1f hours after the order (more than %(limit)s): the goods may "
                                  "be packed or on their way: press Goods Returned once they are back.",
                                  hours=self.hours_after_order, limit=channel.auto_cancel_hours))
        else:
            self._take_back(final=True)
            self.write({"action": "auto_cancelled"})

    def _wait(self, why):
        """A person takes it from here: an activity on the sales order for the channel's
        Responsible (or Salesperson)."""
        so = self.sale_order_id.sudo()
        channel = self.channel_id
        person = channel.responsible_id or channel.user_id or so.user_id
        self.write({"action": "waiting", "note": why})
        if person and person.active and self.env.ref(ACTIVITY_TYPE, raise_if_not_found=False):
            so.activity_schedule(
                ACTIVITY_TYPE, user_id=person.id,
                summary=self.env._("Cancelled by %s", channel.name),
                note=self.env._("%(store)s cancelled %(number)s (%(reason)s). %(why)s", store=channel.name,
                                number=self.name, reason=self.reason or self.env._("no reason given"), why=why))

    # ------------------------------------------------------------------
    # Taking the goods back
    # ------------------------------------------------------------------

    def _take_back(self, final=False):
        """Return the done deliveries (validated), cancel the open ones; with the channel's FBO
        option, an FBS order's goods go on to the FBO warehouse. ``final``: the order is
        cancelled; otherwise set back to a quotation. Returns the action done."""
        self.ensure_one()
        so = self.sale_order_id.sudo().with_context(**{FROM_STORE: True})
        channel = self.channel_id.sudo()
        returns = self.env["stock.picking"].sudo()
        for picking in so._sale_inbox_done_deliveries():
            returns |= self._return_picking(picking)
        to_fbo = self.scheme == "fbs" and channel.cancel_fbs_to_fbo and channel.fbo_warehouse_id and self.goods_left
        transfer = returns.browse()
        if to_fbo:
            goods = [(m.product_id, m.quantity, m.location_dest_id) for m in returns.move_ids if m.quantity]
            if not returns:
                goods = [(m.product_id, m.product_uom_qty, m.location_id)
                         for m in so.picking_ids.filtered(lambda p: p.state not in ("done", "cancel")).move_ids
                         if m.state != "cancel"]
            transfer = self._transfer_to_fbo(goods, channel.fbo_warehouse_id) if goods else transfer
        so.store_status = "cancelled"
        so._action_cancel()
        if not final and not to_fbo:
            so.action_draft()
        self.write({"picking_ids": [fields.Command.link(p.id) for p in returns | transfer]})
        return "moved_to_fbo" if to_fbo else "returned"

    def _return_picking(self, picking):
        """The validated return of a done delivery, every unit back."""
        wizard = self.env["stock.return.picking"].sudo().with_context(
            active_id=picking.id, active_ids=picking.ids, active_model="stock.picking").create({})
        for line in wizard.product_return_moves:
            line.quantity = line.move_id.quantity
        if "to_refund" in wizard.product_return_moves._fields:
            wizard.product_return_moves.to_refund = True
        back = wizard._create_return()
        self._validate(back)
        return back

    def _transfer_to_fbo(self, goods, warehouse):
        """An internal transfer, validated, of ``goods`` [(product, quantity, from location)]
        to the FBO warehouse's stock."""
        source = goods[0][2]
        picking_type = source.warehouse_id.int_type_id or warehouse.int_type_id
        picking = self.env["stock.picking"].sudo().create({
            "picking_type_id": picking_type.id,
            "location_id": source.id,
            "location_dest_id": warehouse.lot_stock_id.id,
            "origin": self.name,
            "move_ids": [fields.Command.create({
                "name": product.display_name, "product_id": product.id, "product_uom_qty": quantity,
                "product_uom": product.uom_id.id, "location_id": location.id,
                "location_dest_id": warehouse.lot_stock_id.id,
            }) for product, quantity, location in goods],
        })
        picking.action_confirm()
        picking.action_assign()
        self._validate(picking)
        return picking

    @staticmethod
    def _validate(picking):
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
            move.picked = True
        picking.with_context(skip_backorder=True, skip_sms=True, skip_immediate=True)._action_done()

    def action_goods_returned(self):
        """The goods of these waiting cancellations are back: take them back in Odoo (see
        ``_take_back``). For Sales Inbox users who may change deliveries."""
        check_group_access(self, USER, "read")
        if not self.env.su:
            self.env["stock.picking"].check_access("write")
        # Two presses at once (a double click, two people) must not return the goods twice:
        # the lines are locked, and read again, before anything is done.
        self.env.cr.execute("SELECT id FROM sale_inbox_cancellation WHERE id = ANY(%s) FOR UPDATE", [self.ids])
        self.invalidate_recordset(["action"])
        waiting = self.filtered(lambda line: line.action == "waiting")
        if not waiting:
            raise UserError(self.env._("Nothing is waiting for its goods here."))
        failed = {}
        for line in waiting.sudo():
            # Each line on its own: one that cannot be taken back (a return Odoo refuses) is
            # left waiting with its error, the others are done.
            try:
                with self.env.cr.savepoint():
                    action = line._take_back()
                    # The details said what to do ("press Goods Returned…"): now, what was done.
                    line.write({"action": action, "done_by_id": self.env.uid, "error": False,
                                "note": self.env._("Goods returned after the store's cancellation: %s.",
                                                   dict(ACTIONS)[action])})
            except OperationalError:
                raise  # a lock or serialization failure: the whole press is tried again
            except Exception as exc:  # noqa: BLE001 -- only this line stays waiting, its error shown
                log_job_error(line, "goods returned", exc)
                failed[line] = job_error_text(exc)
                continue
            line.sale_order_id.activity_feedback([ACTIVITY_TYPE], feedback=self.env._("Goods returned."))
            line.sale_order_id._message_log(body=self.env._("Goods returned after the store's cancellation: %s.",
                                                            dict(ACTIONS)[action]))
        if not failed:
            return True
        for line, error in failed.items():
            line.error = error
        return self.env["sale.channel"]._notify(self.env._(
            "Not taken back (still waiting; press Goods Returned again once mended): %s",
            "; ".join(f"{line.name}: {error}" for line, error in failed.items())), "warning")

    def action_view_sale_order(self):
        check_group_access(self, USER, "read")
        self.ensure_one()
        return {"type": "ir.actions.act_window", "res_model": "sale.order", "res_id": self.sale_order_id.id,
                "view_mode": "form"}


def _naive(value):
    """A stored ISO time (UTC, 'Z') as a naive datetime; None when empty or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
