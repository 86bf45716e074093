"""Marketplace channels (Ozon): the marketplace as customer, its warehouses, FBO stock."""
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..platforms.http import ApiError, ApiRateLimited

_logger = logging.getLogger(__name__)

#: Longest code Odoo takes for a warehouse.
WAREHOUSE_CODE_SIZE = 5


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    marketplace_partner_id = fields.Many2one(
        "res.partner", string="Marketplace Customer", check_company=True,
        help="Orders of a marketplace are sold to the marketplace: this partner is their customer "
        "(the buyer's name and address, where the marketplace gives them, go on the delivery). "
        "Empty: a company named after the marketplace is made with the first order.")
    store_warehouse_ids = fields.One2many("sale.channel.warehouse", "channel_id", string="Store Warehouses")
    fbo_warehouse_id = fields.Many2one(
        "stock.warehouse", string="FBO Warehouse", check_company=True,
        help="The Odoo warehouse that stands for your goods kept in the marketplace's own warehouses "
        "(FBO): its orders are delivered from it.")
    reread_ids = fields.One2many("sale.channel.reread", "channel_id", string="Notifications to Read",
                                 readonly=True)
    reread_count = fields.Integer(compute="_compute_reread_count", string="Notifications Waiting")

    def _compute_reread_count(self):
        counts = dict(self.env["sale.channel.reread"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.reread_count = counts.get(channel, 0)

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------

    def action_read_warehouses(self):
        """List the store's warehouses on the channel, to map each to an Odoo warehouse."""
        self._check_manager()
        self.ensure_one()
        self._check_supports("can_list_warehouses", self.env._(
            "%s does not list its warehouses.", self._platform().label))
        client = self._api_client()
        try:
            listed = client.warehouses()
        except ApiRateLimited as exc:
            # Ozon lets the warehouse list be read once a minute: it answered, just not yet.
            raise UserError(self.env._(
                "%s lets the warehouse list be read once a minute: try again in a minute.",
                self._platform().label)) from exc
        except ApiError as exc:
            raise UserError(self.env._("The store did not answer: %s", exc)) from exc
        new, updated, gone = self._update_store_warehouses(listed)
        if self.is_marketplace:
            # Made now rather than by the first order's processing (which would lock the
            # channel row for it): shown on the page, to be replaced if the merchant has one.
            self._marketplace_partner()
        unmapped = self.store_warehouse_ids.filtered(lambda w: not w.warehouse_id)
        message = self.env._("%(new)s warehouses added, %(updated)s updated, %(gone)s no longer listed.",
                             new=new, updated=updated, gone=gone)
        if unmapped:
            message += " " + self.env._("Map %s to an Odoo warehouse: its orders stop until then.",
                                        ", ".join(unmapped.mapped("name")))
        return self._notify(message, "warning" if unmapped else "success")

    def _update_store_warehouses(self, listed):
        """Create or update the channel's store warehouses from the store's list (by ref).
        One the store no longer lists is switched off, never deleted: its mapping and the
        orders that name it stay readable. Returns (new, updated, gone) counts."""
        self.ensure_one()
        Warehouse = self.env["sale.channel.warehouse"].with_context(active_test=False)
        existing = {row.ref: row for row in Warehouse.search([("channel_id", "=", self.id)])}
        kinds = dict(Warehouse._fields["kind"].selection)
        to_create = []
        updated = 0
        for item in listed:
            ref = str(item.get("ref") or "")
            if not ref:
                continue
            vals = {"name": item.get("name") or ref, "store_status": item.get("status") or False,
                    "kind": item.get("kind") if item.get("kind") in kinds else "fbs", "active": True}
            row = existing.pop(ref, None)
            if row is None:
                to_create.append(dict(vals, channel_id=self.id, ref=ref))
                continue
            changed = {k: v for k, v in vals.items() if row[k] != v}
            if changed:
                row.write(changed)
                updated += 1
        if to_create:
            Warehouse.create(to_create)
        gone = Warehouse.browse([row.id for row in existing.values() if row.active])
        gone.write({"active": False})
        return len(to_create), updated, len(gone)

    def action_setup_fbo_warehouse(self):
        """Make the Odoo warehouse that stands for the goods kept at the marketplace (FBO)."""
        self._check_manager()
        self.ensure_one()
        if self.fbo_warehouse_id:
            return self._notify(self.env._("The FBO warehouse is %s already.", self.fbo_warehouse_id.name), "info")
        # As superuser: the manager of the channel sets it up, whether or not they manage
        # Inventory (the action is checked above).
        Warehouse = self.env["stock.warehouse"].sudo().with_context(active_test=False)
        taken = Warehouse.search([("company_id", "=", self.company_id.id)])
        names, codes = set(taken.mapped("name")), {code.upper() for code in taken.mapped("code") if code}
        label = self._platform().label
        name = self.env._("%(store)s FBO (%(channel)s)", store=label, channel=self.name)
        base, number = name, 2
        while name in names:
            name, number = f"{base} {number}", number + 1
        code = _free_code(label[:3].upper() + "F", codes)
        if not code:
            raise UserError(self.env._("No free warehouse code is left for the FBO warehouse: make it by hand "
                                       "(Inventory → Configuration → Warehouses) and choose it here."))
        warehouse = Warehouse.create({"name": name, "code": code, "company_id": self.company_id.id})
        self.sudo().fbo_warehouse_id = warehouse
        self.message_post(body=self.env._("FBO warehouse %(warehouse)s made by %(user)s.",
                                          warehouse=warehouse.name, user=self.env.user.name))
        return self._notify(self.env._(
            "%s made: FBO orders are delivered from it. Its stock stands for your goods at the marketplace.",
            warehouse.name), "success")

    # ------------------------------------------------------------------
    # Processing
    # ------------------------------------------------------------------

    def _marketplace_partner(self):
        """The channel's marketplace customer, made on first need (a company named after the
        marketplace). The channel row is locked while it is made, so that two processing
        runners never make two."""
        self.ensure_one()
        if self.marketplace_partner_id:
            return self.marketplace_partner_id
        self.env.cr.execute("SELECT marketplace_partner_id FROM sale_channel WHERE id = %s FOR NO KEY UPDATE",
                            (self.id,))
        self.invalidate_recordset(["marketplace_partner_id"])
        if self.marketplace_partner_id:
            return self.marketplace_partner_id
        partner = self.env["res.partner"].sudo().create({
            "name": self._platform().label,
            "is_company": True,
            "company_id": self.company_id.id,
            # An address of its own (the seller's country: the marketplace's company there):
            # Odoo copies a first contact's address onto a company that has none, and the
            # first contact made under this partner is a buyer's delivery address.
            "country_id": (self.company_id.country_id or self.env.ref("base.ru")).id,
        })
        self.sudo().marketplace_partner_id = partner
        _logger.info("Sales channel %s: marketplace customer %s made", self.id, partner.id)
        return partner

    @api.model
    def _store_warehouses_by_ref(self, channel, refs):
        """{ref: sale.channel.warehouse} of the channel, the inactive ones too."""
        rows = self.env["sale.channel.warehouse"].sudo().with_context(active_test=False).search(
            [("channel_id", "=", channel.id), ("ref", "in", list(refs))])
        return {row.ref: row for row in rows}


def _free_code(prefix, taken):
    """A warehouse code starting with ``prefix`` that ``taken`` does not hold ('' if none)."""
    prefix = prefix[:WAREHOUSE_CODE_SIZE - 1]
    if prefix not in taken:
        return prefix
    for number in range(1, 10 ** (WAREHOUSE_CODE_SIZE - len(prefix))):
        code = f"{prefix}{number}"[:WAREHOUSE_CODE_SIZE]
        if code not in taken:
            return code
    return ""
