"""Processing, marketplace rules (Ozon), by what the order says, never by the platform:

* the customer of a marketplace channel's orders is the marketplace (the channel's
  marketplace partner); the buyer's name and address, where the marketplace gives them, go on
  a delivery contact of it;
* an order names the store warehouse it ships from (``warehouse_ref``): the sales order ships
  from the Odoo warehouse it is mapped to, and an unmapped one stops the order until it is;
  an order the marketplace fulfils itself (``fulfilled_by == "marketplace"``, Ozon FBO) ships
  from the channel's FBO warehouse, and its delivery is validated once the marketplace
  reports it delivered;
* the buyer pays the marketplace, which pays the merchant later: nothing is waited for;
* an order split off another (``split_from``) whose sales order exists is linked to it, with
  no sales order (no goods) of its own.
"""
from odoo import fields, models

from .sale_inbox_processor_build import _to_build
from .sale_order import FROM_STORE

FBO = "marketplace"
DELIVERED = "delivered"
CANCELLED = "cancelled"


def _insert_after(steps, after, step):
    """``steps`` with ``step`` after the step whose method is ``after`` (at the end if none)."""
    for index, (_code, method) in enumerate(steps):
        if method == after:
            return steps[:index + 1] + [step] + steps[index + 1:]
    return steps + [step]


class SaleInboxProcessor(models.AbstractModel):
    _inherit = "sale.inbox.processor"

    def _get_processing_steps(self):
        steps = super()._get_processing_steps()
        # Right after reading: an order split off another never reaches the steps that act on
        # a sales order (it shares its parent's).
        steps = _insert_after(steps, "_step_parse", ("order", "_step_split_postings"))
        steps = _insert_after(steps, "_step_currencies", ("order", "_step_marketplace_warehouses"))
        steps = _insert_after(steps, "_step_create_sale_orders", ("order", "_step_link_split_postings"))
        steps = _insert_after(steps, "_step_confirm", ("status", "_step_marketplace_delivered"))
        return steps

    # ------------------------------------------------------------------
    # Customer, payment, warehouse
    # ------------------------------------------------------------------

    def _step_customers(self, run, orders):
        if not run.channel.is_marketplace:
            return super()._step_customers(run, orders)
        todo = _to_build(orders)
        if not todo:
            return orders
        partner = run.channel._marketplace_partner()
        for order in todo:
            run.partners[order.id] = partner
        # Invoice: the marketplace itself; delivery: a contact of it with the buyer's address
        # where the order gives one (rFBS), else the marketplace.
        self._resolve_addresses(run, todo)
        return orders

    def _step_wait_for_payment(self, run, orders):
        if not run.channel.is_marketplace:
            return super()._step_wait_for_payment(run, orders)
        # The buyer pays the marketplace; the marketplace pays the merchant with its payouts,
        # weeks later: waiting for the order to be paid would hold every order.
        return orders

    def _step_marketplace_warehouses(self, run, orders):
        """The warehouse each order ships from: the channel's FBO warehouse for orders the
        marketplace fulfils, else the Odoo warehouse the order's store warehouse is mapped to.
        A store warehouse not mapped yet (or no FBO warehouse) stops the order, saying which:
        once it is mapped, Retry goes on."""
        todo = _to_build(orders).filtered(
            lambda o: run.normalized(o).fulfilled_by == FBO or run.normalized(o).warehouse_ref)
        if not todo:
            return orders
        channel = run.channel
        label = channel._platform().label
        chosen = run.cache.setdefault("order_warehouse", {})
        refs = {run.normalized(o).warehouse_ref for o in todo if run.normalized(o).fulfilled_by != FBO}
        rows = self.env["sale.channel"]._store_warehouses_by_ref(channel, refs)
        missing = sorted(refs - set(rows))
        if missing:
            # Listed on the channel at once, so that it can be mapped without a Read Warehouses.
            created = self.env["sale.channel.warehouse"].sudo().create([
                {"channel_id": channel.id, "ref": ref, "name": self.env._("%(store)s warehouse %(ref)s",
                                                                         store=label, ref=ref)}
                for ref in missing])
            rows.update({row.ref: row for row in created})
        going_on = orders - todo
        for order in todo:
            n = run.normalized(order)
            if n.fulfilled_by == FBO:
                warehouse = channel.fbo_warehouse_id
                problem = not warehouse and self.env._(
                    "This order is fulfilled by %(store)s (FBO), but the channel has no FBO warehouse: set one "
                    "up on the channel's Warehouses page (Set Up FBO Warehouse), then Retry.", store=label)
            else:
                row = rows[n.warehouse_ref]
                warehouse = row.warehouse_id
                problem = not warehouse and self.env._(
                    "%(store)s warehouse “%(name)s” (%(ref)s) is not mapped to an Odoo warehouse: map it on the "
                    "channel's Warehouses page, then Retry.", store=label, name=row.name, ref=row.ref)
            if problem:
                order._fail("order", problem, state="needs_review")
                continue
            chosen[order.id] = warehouse
            going_on |= order
        return going_on

    def _prepare_sale_order_vals(self, run, order):
        vals = super()._prepare_sale_order_vals(run, order)
        warehouse = run.cache.get("order_warehouse", {}).get(order.id)
        if warehouse:
            vals["warehouse_id"] = warehouse.id
        return vals

    # ------------------------------------------------------------------
    # Delivered by the marketplace
    # ------------------------------------------------------------------

    def _step_marketplace_delivered(self, run, orders):
        """Orders the marketplace fulfils and reports delivered: their Odoo delivery is
        validated (the goods left the marketplace's warehouse, which the FBO warehouse stands
        for), all at once; an order whose validation fails is stopped alone (the step runner
        tries them one by one)."""
        todo = orders.filtered(
            lambda o: o.sale_order_id.state == "sale" and run.normalized(o).fulfilled_by == FBO
            and run.normalized(o).status == DELIVERED)
        pickings = todo.sale_order_id.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        if not pickings:
            return orders
        moves = pickings.move_ids.filtered(lambda m: m.state not in ("done", "cancel"))
        for move in moves:
            # The marketplace delivered them: whatever Odoo counted at the FBO warehouse.
            move.quantity = move.product_uom_qty
            move.picked = True
        # The marketplace's own news: nothing of it goes back to the marketplace.
        pickings.with_context(skip_backorder=True, cancel_backorder=True, skip_sms=True,
                              **{FROM_STORE: True})._action_done()
        for order in todo:
            done = order.sale_order_id.picking_ids.filtered(lambda p, ps=pickings: p in ps)
            if done:
                run.notes[order.id].append(self.env._(
                    "delivered by the marketplace: %s validated", ", ".join(done.mapped("name"))))
        return orders

    # ------------------------------------------------------------------
    # Split postings
    # ------------------------------------------------------------------

    def _step_split_postings(self, run, orders):
        """Orders split off another one (``split_from``): when that order's sales order
        exists, this order is linked to it and done (its goods are on it already); when that
        order is in this batch, it is linked once the batch made its sales order; when it
        waits in the inbox with no sales order, this one stops until it has one. An order
        split off one the inbox never had is an order like any other."""
        linked = orders.filtered("split_parent_id")
        new = (orders - linked).filtered(lambda o: not o.sale_order_id and run.normalized(o).split_from)
        if linked:
            self._split_update(run, linked)
        orders -= self._stop_cancelled_split_parents(run, orders - linked - new, new)
        if not new:
            return orders - linked
        refs = {run.normalized(o).split_from for o in new}
        parents = {p.external_id: p for p in self.env["sale.inbox.order"].search(
            [("channel_id", "=", run.channel.id), ("external_id", "in", list(refs))])}
        waiting = run.cache.setdefault("split_waiting", {})
        going_on = orders - linked - new
        for order in new:
            parent = parents.get(run.normalized(order).split_from)
            if not parent or parent == order:
                going_on |= order
            elif parent.sale_order_id:
                self._link_split(run, order, parent)
            elif parent in orders:
                waiting[order.id] = parent.id
            else:
                self._fail_split(order, parent)
        return going_on

    def _stop_cancelled_split_parents(self, run, orders, new):
        """Orders the marketplace cancels while orders split off them share their sales order
        (linked already, or split off them in this same batch, ``new``): cancelling it would
        cancel those parts' goods too, so a person decides. Returns the orders stopped."""
        cancelled = orders.filtered(lambda o: o.sale_order_id and run.normalized(o).status == CANCELLED)
        if not cancelled:
            return cancelled
        parts = self.env["sale.inbox.order"].search([("split_parent_id", "in", cancelled.ids),
                                                     ("state", "!=", "cancelled")])
        Inbox = self.env["sale.inbox.order"]
        coming = {}
        for part in new:
            key = run.normalized(part).split_from
            coming[key] = coming.get(key, Inbox) | part
        stopped = Inbox
        for order in cancelled:
            names = parts.filtered(lambda p, o=order: p.split_parent_id == o).mapped("name")
            names += coming.get(order.external_id, Inbox).mapped("name")
            if not names:
                continue
            stopped |= order
            order._fail("cancellation", self.env._(
                "The marketplace cancelled this order, but %(parts)s, split off it, are part of %(so)s: the "
                "sales order is left as it is, for you to decide.", parts=", ".join(names),
                so=order.sale_order_id.name), state="needs_review")
        return stopped

    def _step_link_split_postings(self, run, orders):
        """Link the split orders whose parent got its sales order in this batch."""
        waiting = run.cache.pop("split_waiting", {})
        Inbox = self.env["sale.inbox.order"]
        for order_id, parent_id in waiting.items():
            order, parent = Inbox.browse(order_id), Inbox.browse(parent_id)
            if order.state not in ("new", "processing"):
                continue
            if parent.sale_order_id:
                self._link_split(run, order, parent)
            else:
                self._fail_split(order, parent)
        return orders

    def _link_split(self, run, order, parent):
        so = parent.sale_order_id
        if so.state == "cancel" or parent.state == "cancelled":
            # Its goods went with the cancelled order: linking it would hide that.
            order._fail("order", self.env._(
                "This order was split off %(parent)s, whose sales order %(so)s is cancelled: its goods are on no "
                "sales order. It is left to you.",
                parent=parent.name, so=so.name), state="needs_review")
            return
        order.write({
            "sale_order_id": so.id, "partner_id": so.partner_id.id, "split_parent_id": parent.id,
            "built_fingerprint": order.fingerprint, "state": "done", "failed_step": False,
            "error_message": False, "processed_at": fields.Datetime.now(),
        })
        order._message_log(body=self.env._(
            "Split off %(parent)s by the marketplace: its goods are on %(so)s already, so no sales order of its "
            "own is made.", parent=parent.name, so=so.name))
        so._message_log(body=self.env._("The marketplace split %(parent)s: %(order)s is part of this order.",
                                        parent=parent.name, order=order.name))
        if run.normalized(order).status == CANCELLED:
            # Linked (its later versions are this part's), and its cancellation left to a
            # person, as for a part cancelled after it was linked.
            self._split_update(run, order)

    def _fail_split(self, order, parent):
        order._fail("order", self.env._(
            "This order was split off %(parent)s, which has no sales order yet: process %(parent)s first, then "
            "Retry this one (its goods are part of %(parent)s).", parent=parent.name), state="needs_review")

    def _split_update(self, run, orders):
        """A new version of an order linked to its parent's sales order: noted, and the
        sales order left alone; a cancellation is left to a person, as only part of the
        sales order is concerned."""
        for order in orders:
            status = run.normalized(order).status
            if status == CANCELLED:
                order._fail("cancellation", self.env._(
                    "The marketplace cancelled this part of %(so)s (split off %(parent)s): only part of the "
                    "sales order is concerned, so it is left to you.", so=order.sale_order_id.name,
                    parent=order.split_parent_id.name), state="needs_review")
                continue
            order.write({"state": "done", "failed_step": False, "error_message": False,
                         "built_fingerprint": order.fingerprint, "processed_at": fields.Datetime.now()})
            order._message_log(body=self.env._(
                "New status from the marketplace (%(status)s); the sales order %(so)s is %(parent)s's and is left "
                "as it is.", status=status or "-", so=order.sale_order_id.name, parent=order.split_parent_id.name))
