"""The store's own warehouses (marketplaces: Ozon), each mapped to an Odoo warehouse."""
from odoo import fields, models


class SaleChannelWarehouse(models.Model):
    _name = "sale.channel.warehouse"
    _inherit = ["channel.owned.mixin"]
    _description = "Store Warehouse"
    _order = "channel_id, kind, name, id"
    _check_company_auto = True

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    ref = fields.Char(string="Store Warehouse ID", required=True, readonly=True,
                      help="The warehouse's id in the store (Ozon's warehouse_id).")
    name = fields.Char(required=True)
    kind = fields.Selection(
        [("fbs", "FBS (you ship)"), ("rfbs", "rFBS (you deliver)")],
        required=True, default="fbs",
        help="FBS: you pack, Ozon delivers. rFBS: you pack and deliver to the buyer.")
    store_status = fields.Char(readonly=True, help="The warehouse's status in the store.")
    warehouse_id = fields.Many2one(
        "stock.warehouse", string="Odoo Warehouse", check_company=True,
        help="Orders of this store warehouse ship from this Odoo warehouse.")
    stock_warehouse_ids = fields.Many2many(
        "stock.warehouse", "sale_channel_warehouse_stock_rel", "channel_warehouse_id", "warehouse_id",
        string="Stock From", check_company=True,
        help="The quantity sent to this store warehouse is the stock of these Odoo warehouses, summed, "
        "then the channel's reserve, threshold and cap. Empty: the Odoo warehouse above.")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("ref_unique", "unique(channel_id, ref)", "A store warehouse is listed once per channel."),
    ]
