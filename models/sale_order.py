from dataclasses import dataclass
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..platforms.base import ODOO_STAGES
from .sale_channel import USER, check_group_access

#: Context key of changes that came from the store: they are not sent back to it. Honoured
#: for superuser code only (processing), never from a caller's context.
FROM_STORE = "sale_inbox_from_store"
#: What ties a sales order to the store order it was made from. Processing (as superuser)
#: writes them, and trusts them: it deletes, confirms and pays only the sales order whose
#: inbox order link names the order it works on; status sync sends what they say to the
#: store. A person never writes them, not even as ``default_*`` values of the context.
PROCESSING_FIELDS = frozenset({"channel_id", "inbox_order_id", "external_order_number", "store_status", "store_stages"})
#: Context key of a cancellation chosen in the store's Cancel wizard (a CancelReason).
CANCEL_REASON = "sale_inbox_cancel_reason"


@dataclass(frozen=True)
class CancelReason:
    """The store's reason a person chose in the Cancel wizard. Only the wizard puts one in the
    context: an RPC call's context is JSON and cannot hold it, so cancelling over RPC never
    passes for the wizard. An empty ``code``: cancelled in Odoo only, the store not told."""

    code: str
    text: str = ""
    message: str = ""


class SaleOrder(models.Model):
    _inherit = "sale.order"

    channel_id = fields.Many2one(
        "sale.channel", string="Sales Channel", readonly=True, index="btree_not_null", copy=False
    )
    inbox_order_id = fields.Many2one(
        "sale.inbox.order", readonly=True, copy=False
    )
    external_order_number = fields.Char(
        string="Store Order Number", readonly=True, copy=False, index="trigram"
    )
    store_status = fields.Char(
        readonly=True, copy=False,
        help="The order's status in the store, as last reported by the store or told to it.")
    store_status_label = fields.Char(
        string="Status in the Store", compute="_compute_store_status_label",
        help="The order's status in the store, by the name the store gives it.")
    store_stages = fields.Json(
        readonly=True, copy=False,
        help="The stages of this order that status sync has dealt with (sent, or came from the store): "
        "a list of stage codes, in the order of the stages.")
    outbox_ids = fields.One2many("sale.channel.outbox", "sale_order_id", string="Status Messages")
    store_note = fields.Text(
        string="Customer Note", readonly=True, copy=False,
        help="The customer's note in the store, as plain text.")
    store_cancellation_ids = fields.One2many("sale.inbox.cancellation", "sale_order_id",
                                             string="Store Cancellations", groups=USER)
    store_cancellation_waiting = fields.Boolean(
        compute="_compute_store_cancellation_waiting",
        help="The marketplace cancelled this order after its goods left: they are awaited back.")

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            # The ORM adds the context's ``default_*`` values inside create: they are values too.
            given = {name for name in PROCESSING_FIELDS if self.env.context.get(f"default_{name}")}
            given.update(name for vals in vals_list for name in PROCESSING_FIELDS if vals.get(name))
            if given:
                raise AccessError(self.env._("Only the Sales Inbox links a sales order to a store order."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and PROCESSING_FIELDS.intersection(vals):
            raise AccessError(self.env._("Only the Sales Inbox links a sales order to a store order."))
        return super().write(vals)

    @api.depends("store_status", "channel_id.platform")
    def _compute_store_status_label(self):
        labels = {}
        for order in self:
            platform = order.channel_id.platform
            if platform and platform not in labels:
                labels[platform] = {status.code: status.label
                                    for status in order.channel_id._platform().order_statuses}
            order.store_status_label = labels.get(platform, {}).get(order.store_status, order.store_status)

    @api.depends("store_cancellation_ids.action")
    def _compute_store_cancellation_waiting(self):
        for order in self:
            order.store_cancellation_waiting = "waiting" in order.sudo().store_cancellation_ids.mapped("action")

    def action_store_goods_returned(self):
        """Goods Returned on the sales order: see the cancellation's."""
        # Checked here, before the superuser read: the lines' own check comes too late for that.
        check_group_access(self, USER, "read")
        self.check_access("write")
        lines = self.sudo().store_cancellation_ids.filtered(lambda line: line.action == "waiting")
        return lines.with_env(self.env).action_goods_returned()

    def _sale_inbox_done_deliveries(self):
        return self.picking_ids.filtered(lambda p: p.state == "done" and p.picking_type_code == "outgoing")

    def _sale_inbox_posted_invoices(self):
        return self.invoice_ids.filtered(lambda m: m.state == "posted" and m.move_type == "out_invoice")

    def action_view_inbox_order(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "sale.inbox.order",
            "res_id": self.inbox_order_id.id,
            "view_mode": "form",
        }

    # ------------------------------------------------------------------
    # Status sync: Odoo → store
    # ------------------------------------------------------------------

    def action_confirm(self):
        result = super().action_confirm()
        self._sale_inbox_stage_changed()
        return result

    def action_cancel(self):
        """A marketplace FBS order (Ozon) is cancelled in the store with a reason of its own:
        cancelling it opens the Cancel wizard, which lists the live reasons. Without the
        wizard (an RPC call, Odoo's own cancel dialog), nothing is cancelled: one order gets
        the wizard, several are refused, so that no cancellation reaches the store without
        its reason (nor is silently kept from it)."""
        if isinstance(self.env.context.get(CANCEL_REASON), CancelReason):
            return super().action_cancel()
        asking = self.filtered(lambda o: o._sale_inbox_needs_cancel_reason())
        if not asking:
            return super().action_cancel()
        if len(self) > 1:
            raise UserError(self.env._(
                "%s: the store needs a reason for each cancellation. Cancel these orders one at a time.",
                ", ".join(asking.mapped("name"))))
        self.check_access("write")
        # As superuser: the store's reasons are rows the server writes, from the store's answer
        # (whether one needs a message included); a person picks one, never writes or adds one.
        return self.env["sale.order.store.cancel"].sudo()._open_for(self)

    def _sale_inbox_needs_cancel_reason(self):
        """Whether cancelling this order must tell its store with a reason: a marketplace FBS
        order its store has not cancelled itself."""
        self.ensure_one()
        order = self.sudo()
        channel = order.channel_id
        if not channel or not channel.support_cancel_with_reason or order.state == "cancel":
            return False
        if order.inbox_order_id.sale_order_id != order or order.store_status == "cancelled":
            return False
        return not order._sale_inbox_fulfilled_by_marketplace()

    def _sale_inbox_fulfilled_by_marketplace(self):
        """Whether the marketplace itself packs and ships this order (Ozon FBO), as its store
        order says."""
        self.ensure_one()
        inbox_order = self.sudo().inbox_order_id
        return bool(inbox_order) and inbox_order._fulfilled_by_marketplace()[inbox_order.id]

    def _action_cancel(self):
        # A store order left as a quotation counts as sold in the stores' availability
        # (sale.channel.stock); cancelled, its units are free again and no stock move says so.
        quoted = self.filtered(lambda o: o.channel_id and o.state in ("draft", "sent"))
        products = quoted.order_line.product_id.filtered("default_code")
        result = super()._action_cancel()
        self._sale_inbox_stage_changed()
        if products:
            self.env["sale.channel.product"].sudo()._queue_push(product_ids=products.ids)
        return result

    def _sale_inbox_stages(self):
        """The stages this order has reached, as a merchant names them."""
        self.ensure_one()
        if self.state == "cancel":
            return {"cancelled"}
        if self.state in ("draft", "sent"):
            return {"quotation"}
        stages = {"confirmed"}
        if self.delivery_status == "full":
            stages.add("delivered")
        elif self.delivery_status in ("partial", "started"):
            stages.add("partially_delivered")
        invoices = self.invoice_ids.filtered(lambda m: m.state == "posted" and m.move_type == "out_invoice")
        if invoices:
            stages.add("invoiced")
            if all(m.payment_state in ("paid", "in_payment") for m in invoices):
                stages.add("paid")
        return stages

    def _sale_inbox_in_scope(self, channel, handled):
        if channel.status_scope == "recent":
            return self.date_order >= fields.Datetime.now() - timedelta(days=channel.status_scope_days)
        # Not yet delivered or invoiced before this change: the change that makes it so is
        # the last one synced.
        return not handled & {"delivered", "invoiced", "paid"}

    def _sale_inbox_stage_changed(self):
        """Record the stages newly reached; put what the store must hear in the outbox, in this
        same transaction. Changes that came from the store are recorded, not sent back."""
        # Salespeople and accountants reach this without rights on channels: the outbox is
        # the system's own bookkeeping. Only the sales order its store order links back to
        # speaks for it: any other (a copy, a stray link) tells the store nothing.
        orders = self.sudo().filtered(
            lambda o: o.channel_id and o.inbox_order_id.sale_order_id == o and o.channel_id.status_sync != "none")
        if not orders:
            return
        # Only processing (as superuser) applies the store's own changes; a caller's context
        # (an RPC call's included) does not silence the store's update.
        from_store = self.env.su and self.env.context.get(FROM_STORE)
        reason = self.env.context.get(CANCEL_REASON)
        reason = reason if isinstance(reason, CancelReason) else None
        messages = []
        untold = self.browse()
        # A marketplace order split into several postings is told once per posting (one query).
        marketplace = orders.filtered(lambda o: o.channel_id.is_marketplace)
        postings = marketplace._store_posting_statuses() if marketplace else {}
        for order in orders:
            channel = order.channel_id
            handled = set(order.store_stages or [])
            new = order._sale_inbox_stages() - handled
            if not new:
                continue
            # The marketplace packs and ships the orders it fulfils (FBO): it sets their statuses
            # itself and takes none from Odoo.
            sends = channel.status_sync in ("to_store", "both") and not from_store \
                and order._sale_inbox_in_scope(channel, handled) \
                and not order._sale_inbox_fulfilled_by_marketplace()
            status = order.store_status
            if sends:
                mapping = {line.odoo_stage: line.store_status for line in channel.status_map_ids}
                platform = channel._platform()
                for stage in sorted(new, key=ODOO_STAGES.index):
                    target = mapping.get(stage)
                    if not target or target == status:
                        continue
                    if status and (platform.status_rank(status) == 9
                                   or platform.status_rank(target) < platform.status_rank(status)):
                        continue  # a store order never moves backwards, nor out of a final status
                    extra = {}
                    if stage == "cancelled" and channel.support_cancel_with_reason:
                        # Sent with the reason chosen in the Cancel wizard, or not at all
                        # (cancelled in Odoo only; or by Odoo's own code, which chose none).
                        if not reason or not reason.code:
                            if not reason:
                                untold |= order
                            continue
                        extra = {"reason_code": reason.code, "reason_text": reason.text,
                                 "reason_message": reason.message}
                    numbers = list(postings[order.id]) if order.id in postings \
                        else [order.inbox_order_id.external_id]
                    messages += [dict(order._sale_inbox_tracking(), channel_id=channel.id, sale_order_id=order.id,
                                      external_id=number, odoo_stage=stage, store_status=target, **extra)
                                 for number in numbers]
                    status = target
            order.write({"store_stages": sorted(handled | new, key=ODOO_STAGES.index), "store_status": status})
        for order in untold:
            order._message_log(body=self.env._(
                "%s was not told of this cancellation: it needs one of its reasons, chosen when cancelling "
                "from the sales order. Cancel it in the store yourself.", order.channel_id.name))
        if messages:
            self.env["sale.channel.outbox"].sudo().create(messages)
            self.env["sale.inbox.job"]._trigger_job("sale_inbox.ir_cron_send_outbox")

    def _sale_inbox_tracking(self):
        """What was delivered so far by SKU, and the delivery's tracking number, carrier and
        link when Odoo knows them (the carrier fields come with the Delivery Costs module)."""
        delivered = {}
        for line in self.order_line.filtered(lambda l: l.qty_delivered and l.product_id.default_code):
            code = line.product_id.default_code
            delivered[code] = delivered.get(code, 0.0) + line.qty_delivered
        values = {"delivered": delivered or False}
        picking = self.picking_ids.filtered(lambda p: p.state == "done" and p.picking_type_code == "outgoing")[-1:]
        if picking and "carrier_tracking_ref" in picking._fields:
            values.update(tracking_number=picking.carrier_tracking_ref or False,
                          tracking_url=picking.carrier_tracking_url or False,
                          carrier=picking.carrier_id.name or False)
        return values
