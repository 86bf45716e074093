from odoo import fields, models


class SaleChannelSync(models.Model):
    """One stock sync run of a channel: when, what was checked, changed, sent, and why not."""

    _name = "sale.channel.sync"
    _inherit = ["channel.owned.mixin"]
    _description = "Stock Sync Run"
    _order = "started_at desc, id desc"
    _rec_name = "started_at"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    started_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    finished_at = fields.Datetime(readonly=True)
    trigger = fields.Selection(
        [("manual", "Sync Now"), ("daily", "Daily Auto Sync"), ("push", "Push on Change"),
         ("reconcile", "Reconciliation")], readonly=True)
    state = fields.Selection(
        [("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        required=True, default="running", readonly=True,
    )
    checked = fields.Integer(readonly=True, help="Products of the store compared with Odoo.")
    changed = fields.Integer(readonly=True, help="Products whose quantity differed from the last one accepted.")
    sent = fields.Integer(readonly=True, help="Changes the store accepted.")
    failed = fields.Integer(readonly=True, help="Changes the store refused, or that could not be sent.")
    waiting = fields.Integer(
        readonly=True,
        help="Changes held back by the store's limits (Ozon: a product and warehouse at most every 30 s, "
        "10 price changes a product an hour): a later run sends them.")
    api_calls = fields.Integer(string="API Calls", readonly=True)
    progress = fields.Integer(readonly=True, help="Share of the run's API requests done, in percent.")
    message = fields.Text(readonly=True)
