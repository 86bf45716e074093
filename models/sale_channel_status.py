"""Order status sync: the status mapping and the outbox, seen from the channel."""
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    # Order status sync (seeds 002 and 004).
    status_sync = fields.Selection(
        [("none", "Off"), ("to_store", "To the Store"), ("from_store", "From the Store"), ("both", "Both Ways")],
        required=True, default="none", tracking=True,
        help="To the Store: a stage reached in Odoo (confirmed, delivered, invoiced, paid, cancelled) is "
        "sent to the store as its mapped status. From the Store: a status the store reports moves the "
        "Odoo order to the mapped stage, as far as Odoo allows. A change that came from one side is "
        "never sent back to it.",
    )
    status_scope = fields.Selection(
        [("open", "Orders not yet delivered or invoiced"), ("recent", "Orders created in the last days")],
        string="Sync Statuses Of", required=True, default="open",
        help="Not yet delivered or invoiced: once an order is delivered or invoiced, the change that made "
        "it so is the last one synced. Last days: every order created in the last N days, whatever "
        "its state.",
    )
    status_scope_days = fields.Integer(string="Days", default=30)
    status_map_ids = fields.One2many("sale.channel.status.map", "channel_id", string="Status Mapping")
    outbox_ids = fields.One2many("sale.channel.outbox", "channel_id", string="Status Outbox")
    outbox_attention_count = fields.Integer(
        compute="_compute_outbox_attention_count", string="Statuses Not Sent",
        help="Status changes waiting to be sent (the store did not answer yet) or refused.")

    def _compute_outbox_attention_count(self):
        counts = dict(self.env["sale.channel.outbox"]._read_group(
            [("channel_id", "in", self.ids), ("state", "in", ("pending", "failed"))], ["channel_id"], ["__count"]))
        for channel in self:
            channel.outbox_attention_count = counts.get(channel, 0)

    @api.constrains("status_sync", "status_map_ids", "platform")
    def _check_status_mapping(self):
        for channel in self.filtered(lambda c: c.status_sync != "none"):
            platform = channel._platform()
            if not platform.order_statuses:
                raise ValidationError(self.env._("%s has no order statuses to sync.", platform.label))
            mapped = set(channel.status_map_ids.mapped("odoo_stage"))
            missing = [label for stage, label in self._stage_labels() if stage not in mapped]
            if missing:
                raise ValidationError(self.env._(
                    "Map every Odoo stage to a store status before turning status sync on. "
                    "Not mapped: %s.", ", ".join(missing)))

    def _stage_labels(self):
        """(stage, label) of the Odoo stages, the labels in the user's language."""
        return self.env["sale.channel.status.map"]._fields["odoo_stage"]._description_selection(self.env)

    def action_propose_status_map(self):
        """Replace the mapping with the one proposed for the platform."""
        self._check_manager()
        for channel in self:
            channel.status_map_ids.unlink()
            channel._propose_status_map()

    def _propose_status_map(self):
        mapping = self._platform().default_status_map
        self.env["sale.channel.status.map"].create([
            {"channel_id": self.id, "odoo_stage": stage, "store_status": status}
            for stage, status in mapping.items()])

    def action_view_outbox(self):
        self._check_inbox_user()
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_outbox_action")
        action["domain"] = [("channel_id", "=", self.id)]
        return action
