from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .sale_channel import MANAGER, USER, check_group_access


class SaleChannelProduct(models.Model):
    """What a store knows a product by, and the last quantity it accepted for it."""

    _name = "sale.channel.product"
    _inherit = ["sale.inbox.job", "channel.owned.mixin"]
    _description = "Store Product"
    _order = "channel_id, sku"
    _rec_name = "sku"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    product_id = fields.Many2one(
        "product.product", ondelete="cascade", index=True,
        help="Empty for a SKU the store has and Odoo does not.")
    sku = fields.Char(string="SKU", required=True)
    state = fields.Selection(
        [("mapped", "In the store"), ("not_in_store", "Not in the store"), ("not_in_odoo", "Not in Odoo")],
        required=True, default="mapped",
        help="SKUs only one side knows are listed here, not guessed. SKUs the store does not know "
        "(not found, or refused as unknown) are not sent; they are looked up again by Sync Now and "
        "once a day (Mozello and IdoSell, which cannot be asked, by sending the quantity: the SKU "
        "is in the store once the store accepts it). SKUs Odoo does not know are found by a "
        "reconciliation.",
    )
    remote_id = fields.Char(string="Store ID", readonly=True)
    remote_parent_id = fields.Char(string="Store Parent ID", readonly=True,
                                   help="The product a variation belongs to, in the store.")
    remote_inventory_id = fields.Char(string="Store Inventory Item", readonly=True,
                                      help="Where the store keeps the quantity (Shopify's inventory item).")
    last_quantity = fields.Float(string="Last Quantity Accepted", readonly=True,
                                 digits="Product Unit of Measure")
    last_price = fields.Float(string="Last Price Accepted", readonly=True, digits="Product Price")
    last_sync_at = fields.Datetime(string="Accepted On", readonly=True)
    last_error = fields.Char(readonly=True)
    checked_at = fields.Datetime(
        string="Looked Up On", readonly=True,
        help="When the store was last asked for this SKU. SKUs it did not know are asked again by "
        "Sync Now, and by the other runs once a day.")
    push_queued = fields.Boolean(
        string="Queued for Push", readonly=True, index="btree_not_null",
        help="A stock move or an incoming order changed this product's availability: the push job "
        "sends it shortly (Push on Change).")

    # Reconciliation: the store's figure against Odoo's, as read at one moment.
    store_quantity = fields.Float(string="In the Store", readonly=True, digits="Product Unit of Measure",
                                  help="The quantity the store showed at the last reconciliation, or "
                                  "accepted from Odoo since.")
    store_tracks_stock = fields.Boolean(readonly=True)
    odoo_quantity = fields.Float(string="Odoo Would Send", readonly=True, digits="Product Unit of Measure",
                                 help="The available quantity Odoo computed at the last reconciliation or "
                                 "sync.")
    reconciled_at = fields.Datetime(string="Compared On", readonly=True)
    differs = fields.Boolean(
        readonly=True, index=True,
        help="At the last reconciliation the store and Odoo disagreed on this SKU.")

    # Stores that keep stock per warehouse of their own (Ozon): the figures above are the
    # sums of these.
    stock_ids = fields.One2many("sale.channel.product.stock", "product_row_id", string="Stock per Warehouse")
    last_price_at = fields.Datetime(string="Price Accepted On", readonly=True)
    price_changed_at = fields.Char(
        readonly=True,
        help="When the store took this product's last price changes (up to 10, UTC, space separated): "
        "Ozon takes at most 10 an hour, the ones beyond wait.")

    _sql_constraints = [
        ("product_unique", "unique(channel_id, product_id)", "A product is mapped once per channel."),
    ]

    # ------------------------------------------------------------------
    # Push on Change
    # ------------------------------------------------------------------

    @api.model
    def _queue_push(self, product_ids=(), skus=(), company_id=None):
        """Queue the mapped rows of these products (or SKUs) on the channels that push on
        change; one statement whatever their number, and a wake-up for the push job."""
        if not product_ids and not skus:
            return 0
        self.flush_model(["push_queued", "state", "product_id", "sku"])
        self.env["sale.channel"].flush_model(["push_on_change", "active", "state", "company_id"])
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row SET push_queued = true
              FROM sale_channel AS channel
             WHERE channel.id = row.channel_id AND channel.push_on_change AND channel.active
               AND channel.state = 'connected' AND row.state = 'mapped' AND row.push_queued IS NOT TRUE
               AND (row.product_id = ANY(%s) OR row.sku = ANY(%s))
               AND (%s::int IS NULL OR channel.company_id = %s::int)
            """,
            (list(product_ids), list(skus), company_id, company_id),
        )
        queued = self.env.cr.rowcount
        if queued:
            self.invalidate_model(["push_queued"])
            self._trigger_job("sale_inbox.ir_cron_push_stock")
        return queued

    @api.model
    def _claim_queued(self, channel, limit=10000):
        """Take a channel's queued rows; rows another worker is sending are skipped."""
        self.flush_model(["push_queued"])
        self.env.cr.execute(
            """
            UPDATE sale_channel_product SET push_queued = false
             WHERE id IN (SELECT id FROM sale_channel_product
                           WHERE channel_id = %s AND push_queued
                           ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            (channel.id, limit),
            log_exceptions=False,  # a serialization failure is expected: _claim_fresh retries
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        self.invalidate_model(["push_queued"])
        return self.browse(ids)

    # ------------------------------------------------------------------
    # What the store accepted or refused
    # ------------------------------------------------------------------

    @api.model
    def _record_accepted(self, accepted):
        """[(row, StockUpdate)] the store accepted: one statement for the whole request. A
        store that takes a quantity for a SKU has it (a probe of a SKU it lacked is mapped),
        and from then on both figures of the Store Products report are that quantity: what
        the store has and what Odoo computed, until the next sync or reconciliation."""
        if not accepted:
            return
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET state = 'mapped', last_quantity = v.qty, last_price = COALESCE(v.price, row.last_price),
                   last_sync_at = now() at time zone 'UTC', last_error = NULL,
                   store_quantity = v.qty, odoo_quantity = v.qty, store_tracks_stock = true, differs = false
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::float[]) AS qty,
                           unnest(%s::float[]) AS price) AS v
             WHERE row.id = v.id
            """,
            ([row.id for row, _u in accepted], [float(u.quantity) for _r, u in accepted],
             [float(u.price) if u.price is not None else None for _r, u in accepted]),
        )
        self.invalidate_model(["state", "last_quantity", "last_price", "last_sync_at", "last_error",
                               "store_quantity", "odoo_quantity", "store_tracks_stock", "differs"])

    @api.model
    def _record_prices(self, accepted):
        """[(row, price)] the store accepted: the price, when, and the change's time among the
        product's last 10 (the store takes at most 10 an hour), in one statement."""
        if not accepted:
            return
        now = fields.Datetime.now()
        hour_ago = now - timedelta(hours=1)
        times = []
        for row, _price in accepted:
            recent = [t for t in _parse_times(row.price_changed_at) if t > hour_ago] + [now]
            times.append(" ".join(t.strftime("%Y-%m-%dT%H:%M:%S") for t in recent[-10:]))
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET last_price = v.price, last_price_at = %s, price_changed_at = v.times
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::float[]) AS price, unnest(%s::varchar[]) AS times) AS v
             WHERE row.id = v.id
            """,
            (now, [row.id for row, _p in accepted], [float(p) for _r, p in accepted], times))
        self.invalidate_model(["last_price", "last_price_at", "price_changed_at"])

    @api.model
    def _sum_warehouse_stock(self, store_warehouses, row_ids, accepted_ids):
        """The figures of store products sent per warehouse: the sums of their pairs, and the
        pairs' refusals as the row's error; a row with a pair accepted is in the store."""
        if not row_ids:
            return
        self.env["sale.channel.product.stock"].flush_model()
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET last_quantity = agg.qty, last_sync_at = agg.synced, last_error = LEFT(agg.errors, 500),
                   store_quantity = agg.store, odoo_quantity = agg.odoo, differs = agg.differs,
                   store_tracks_stock = true,
                   state = CASE WHEN row.id = ANY(%(accepted)s) THEN 'mapped' ELSE row.state END
              FROM (SELECT s.product_row_id, SUM(s.last_quantity) AS qty, MAX(s.last_sync_at) AS synced,
                           string_agg(w.name || ': ' || s.last_error, '; ' ORDER BY w.name)
                               FILTER (WHERE s.state = 'refused') AS errors,
                           SUM(s.store_quantity) AS store, SUM(s.odoo_quantity) AS odoo,
                           bool_or(s.differs) AS differs
                      FROM sale_channel_product_stock s
                      JOIN sale_channel_warehouse w ON w.id = s.store_warehouse_id
                     WHERE s.product_row_id = ANY(%(rows)s) AND s.store_warehouse_id = ANY(%(whs)s)
                     GROUP BY s.product_row_id) AS agg
             WHERE row.id = agg.product_row_id
            """,
            {"rows": list(row_ids), "accepted": list(accepted_ids), "whs": store_warehouses.ids})
        self.invalidate_model()

    @api.model
    def _record_refused(self, refused):
        """[(row, reason)] the store refused."""
        if not refused:
            return
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row SET last_error = v.why
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS why) AS v
             WHERE row.id = v.id
            """,
            ([row.id for row, _why in refused], [why[:250] for _row, why in refused]),
        )
        self.invalidate_model(["last_error"])

    @api.model
    def _record_not_in_store(self, lacking):
        """[(row, reason)] the store refused as SKUs it does not have: they are not sent again
        until they are looked up again (Sync Now, or once a day), as a look-up that does not
        find a SKU leaves it."""
        if not lacking:
            return
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET state = 'not_in_store', last_error = v.why, checked_at = now() at time zone 'UTC',
                   push_queued = false
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS why) AS v
             WHERE row.id = v.id
            """,
            ([row.id for row, _why in lacking], [why[:250] for _row, why in lacking]),
        )
        self.invalidate_model(["state", "last_error", "checked_at", "push_queued"])

    @api.model
    def _write_remote_ids(self, rows_items):
        """[(row, StoreItem)]: the store's ids of these rows, in one statement (a Sync Now after
        a reconciliation finds again every SKU the catalog lacked)."""
        if not rows_items:
            return
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET remote_id = NULLIF(v.remote_id, ''), remote_parent_id = NULLIF(v.parent_id, ''),
                   remote_inventory_id = NULLIF(v.inventory_id, '')
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS remote_id,
                           unnest(%s::varchar[]) AS parent_id, unnest(%s::varchar[]) AS inventory_id) AS v
             WHERE row.id = v.id
            """,
            ([row.id for row, _item in rows_items],
             *(list(column) for column in zip(*(item.ids() for _row, item in rows_items), strict=True))),
        )
        self.invalidate_model(["remote_id", "remote_parent_id", "remote_inventory_id"])

    # ------------------------------------------------------------------
    # Reconciliation
    # ------------------------------------------------------------------

    @api.model
    def _reconcile(self, channel, items):
        """Compare the store's items ({SKU: StoreItem}, its whole catalog) with Odoo.

        Odoo's products are mapped by SKU from the catalog (no look-up needed), the store's
        SKUs that Odoo lacks get a row of their own, and every mapped row gets both figures
        and whether they differ, written in one statement."""
        skus = channel._odoo_skus()
        known = {row.product_id.id: row for row in channel.store_product_ids if row.product_id}
        channel._map_store_items(list(skus.values()), items, known)
        # The catalog is a look-up of every SKU: what it lacks waits for the next day's.
        channel.store_product_ids.filtered("product_id").write({"checked_at": fields.Datetime.now()})
        orphans = {row.sku: row for row in channel.store_product_ids if not row.product_id}
        self.create([{"channel_id": channel.id, "sku": sku, "state": "not_in_odoo", "remote_id": item.remote_id,
                      "remote_parent_id": item.remote_parent_id or False}
                     for sku, item in items.items() if sku not in skus and sku not in orphans])
        gone = [row for sku, row in orphans.items() if sku not in items or sku in skus]
        self.browse([row.id for row in gone]).unlink()
        rows = channel.store_product_ids.filtered(lambda r: r.state == "mapped")
        if channel._stock_per_warehouse():
            return self.env["sale.channel.product.stock"]._reconcile(channel, rows, items)
        available = self.env["sale.channel.stock"]._available(channel, rows.product_id.ids)
        figures = []
        for row in rows:
            item = items.get(row.sku)
            odoo = available.get(row.product_id.id, 0.0)
            tracked = item is not None and item.quantity is not None
            store = float(item.quantity) if tracked else 0.0
            figures.append((row.id, store, tracked, odoo, not tracked or store != odoo))
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE sale_channel_product AS row
               SET store_quantity = v.store, store_tracks_stock = v.tracked, odoo_quantity = v.odoo,
                   differs = v.differs, reconciled_at = now() at time zone 'UTC'
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::float[]) AS store, unnest(%s::bool[]) AS tracked,
                           unnest(%s::float[]) AS odoo, unnest(%s::bool[]) AS differs) AS v
             WHERE row.id = v.id
            """,
            tuple(list(column) for column in zip(*figures, strict=True)) if figures else ([], [], [], [], []),
        )
        self.invalidate_model()
        return len([f for f in figures if f[4]])

    def action_view_warehouse_stock(self):
        """The product's stock per store warehouse: what was sent, accepted, and what the
        store showed at the last reconciliation."""
        check_group_access(self, USER, "read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_product_stock_action")
        action["domain"] = [("product_row_id", "in", self.ids)]
        return action

    def action_push_odoo_quantity(self):
        """Send Odoo's figure for these products now, whatever the store last accepted."""
        check_group_access(self, MANAGER, "write")
        self.channel_id._check_manager()
        mapped = self.filtered(lambda r: r.state == "mapped")
        if not mapped:
            raise UserError(self.env._("Only products that are in the store can be pushed."))
        runs = self.env["sale.channel.sync"]
        for channel in mapped.channel_id:
            runs |= channel._sync_stock("reconcile", rows=mapped.filtered(lambda r, c=channel: r.channel_id == c),
                                        force=True)
        failed = runs.filtered(lambda r: r.state == "failed" or r.failed)
        message = self.env._("%(sent)s quantities sent to the store.", sent=sum(runs.mapped("sent")))
        if failed:
            message += " " + "; ".join(failed.mapped("message"))
        return mapped.channel_id[:1]._notify(message, "warning" if failed else "success")


def _parse_times(text):
    """The times written in ``price_changed_at`` (UTC, naive)."""
    times = []
    for word in (text or "").split():
        try:
            times.append(fields.Datetime.to_datetime(word.replace("T", " ")))
        except ValueError:
            continue
    return [t for t in times if t]
