"""Marketplace channels (Ozon): the marketplace as customer, its warehouses, FBO stock."""
from odoo import fields, models


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    marketplace_partner_id = fields.Many2one(
        "res.partner", string="Marketplace Customer", check_company=True,
        help="Orders of a marketplace are sold to the marketplace: this partner is their customer "
        "(the buyer's name and address, where the marketplace gives them, go on the delivery).")
    store_warehouse_ids = fields.One2many("sale.channel.warehouse", "channel_id", string="Store Warehouses")
    fbo_warehouse_id = fields.Many2one(
        "stock.warehouse", string="FBO Warehouse", check_company=True,
        help="The Odoo warehouse that stands for your goods kept in the marketplace's own warehouses "
        "(FBO): its orders are delivered from it.")
