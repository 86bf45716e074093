"""Inventory and price sync: what each store is told is available, and at what price."""
import logging
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import partial

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from .. import platforms
from ..platforms.base import StockUpdate
from ..platforms.http import (
    ApiAddressRefused,
    ApiAuthError,
    ApiError,
    ApiOtherAddress,
    ApiRateLimited,
    ApiRedirected,
    ApiUnavailable,
)
from .sale_channel_product import _parse_times
from .sale_inbox_job import job_error_text, log_job_error

_logger = logging.getLogger(__name__)

#: Platforms whose stock the sync sends.
#: Hours before a run that is not Sync Now asks the store again for SKUs it did not know.
UNKNOWN_SKU_RECHECK_HOURS = 20
#: Hours after which a sync run still 'running' is taken as interrupted.
SYNC_RUN_TIMEOUT_HOURS = 1
#: Seconds before a product-warehouse pair is sent again (Ozon takes each at most every 30 s).
PAIR_INTERVAL_SECONDS = 30
#: Price changes a product may have in an hour (Ozon's limit; the ones beyond wait).
PRICE_CHANGES_PER_HOUR = 10
#: Answers that say the store as a whole cannot be talked to now: the run stops there
#: (any other failed request fails alone, and the run goes on with the next one).
STORE_WIDE_ERRORS = (ApiAuthError, ApiRateLimited, ApiUnavailable, ApiAddressRefused, ApiRedirected,
                     ApiOtherAddress)


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    # Inventory sync (seed 000 and 003): what the store is told is available.
    stock_warehouse_ids = fields.Many2many(
        "stock.warehouse",
        string="Stock From",
        check_company=True,
        help="Warehouses whose stock is summed for the store. Empty: the channel's warehouse.",
    )
    stock_reserve = fields.Float(
        string="Reserve", digits="Product Unit of Measure",
        help="Kept back from the store: subtracted from what is available.",
    )
    stock_threshold = fields.Float(
        string="Threshold", digits="Product Unit of Measure",
        help="Under this quantity the store is told 0, so that the last units are not oversold.",
    )
    stock_cap = fields.Float(
        string="Cap", digits="Product Unit of Measure",
        help="The store is never told more than this (0: no cap).",
    )
    stock_preview_product_id = fields.Many2one(
        "product.product", string="Check a Product", check_company=True,
        help="Shows what would be sent to the store for this product, and why.",
    )
    stock_preview = fields.Text(compute="_compute_stock_preview", string="Would Be Sent")

    store_location = fields.Char(
        help="Shopify keeps stock per location: the location's ID (gid://shopify/Location/…) the "
        "quantities are sent to. Left empty, it is filled in at the first sync when the shop has "
        "a single location.",
    )
    push_on_change = fields.Boolean(
        string="Push on Change",
        help="Within a minute or two of a stock move or an incoming order that changes a product's "
        "availability, send that product's quantity to the store (only if it changed).",
    )
    sync_prices = fields.Boolean(
        string="Price List Sync",
        help="Also send each product's price from the pricelist below.",
    )
    sync_pricelist_id = fields.Many2one(
        "product.pricelist", string="Price List", check_company=True,
        help="Its currency should be the store's. Empty: the channel's pricelist.",
    )
    store_currency_id = fields.Many2one(
        "res.currency",
        help="The currency the store's prices are in. Prices are converted to it from the price "
        "list's currency at today's rate. Empty: the price list's currency.",
    )
    store_prices_include_tax = fields.Boolean(
        help="Send prices with the product's sales taxes included, as the store shows them.",
    )
    sync_daily = fields.Boolean(
        string="Daily Auto Sync",
        help="Every morning, send the store the available quantity of each of its products.",
    )
    sync_hour = fields.Integer(string="At (hour, UTC)", default=6)
    sync_requested = fields.Boolean(readonly=True, copy=False)
    last_sync_date = fields.Date(readonly=True, copy=False)
    store_product_ids = fields.One2many("sale.channel.product", "channel_id", string="Store Products")
    sync_ids = fields.One2many("sale.channel.sync", "channel_id", string="Sync Runs")
    sync_progress = fields.Integer(
        compute="_compute_sync_progress",
        help="How far the running stock sync is, in percent of its API requests.")
    sync_running = fields.Boolean(compute="_compute_sync_progress")
    store_product_count = fields.Integer(compute="_compute_store_product_count")

    def _compute_stock_preview(self):
        Stock = self.env["sale.channel.stock"]
        for channel in self:
            product = channel.stock_preview_product_id
            if not product:
                channel.stock_preview = False
            elif channel._stock_per_warehouse():
                # One figure per store warehouse, each from its own Odoo warehouses.
                channel.stock_preview = "\n".join(
                    f"{store_warehouse.name}: "
                    + Stock._explain(channel, product, Stock._store_warehouse_sources(store_warehouse))
                    for store_warehouse in channel._stock_store_warehouses())
            else:
                channel.stock_preview = Stock._explain(channel, product)

    def _compute_sync_progress(self):
        since = fields.Datetime.now() - timedelta(hours=SYNC_RUN_TIMEOUT_HOURS)
        running = {
            run.channel_id.id: run.progress
            for run in self.env["sale.channel.sync"].search(
                [("channel_id", "in", self.ids), ("state", "=", "running"), ("started_at", ">=", since)],
                order="started_at")
        }
        for channel in self:
            channel.sync_running = channel.id in running
            channel.sync_progress = running.get(channel.id, 0)

    def _compute_store_product_count(self):
        counts = dict(self.env["sale.channel.product"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.store_product_count = counts.get(channel, 0)

    def action_view_store_products(self):
        self._check_inbox_user()
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_product_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action

    @api.model
    @tools.ormcache()
    def _push_on_change_company_ids(self):
        """Companies with a channel that pushes stock on change: intake queues the SKUs of a
        new order only for them, so that it costs nothing to everyone else."""
        self.flush_model(["push_on_change", "active", "state", "company_id"])
        self.env.cr.execute(
            "SELECT DISTINCT company_id FROM sale_channel WHERE push_on_change AND active AND state = 'connected'")
        return frozenset(row[0] for row in self.env.cr.fetchall())

    def action_sync_now(self):
        """Queue a stock sync for the sync job, which reports its progress while it runs."""
        self._check_manager()
        for channel in self:
            channel._check_takes_stock()
        self.write({"sync_requested": True})
        for channel in self:
            channel._publish_progress("sync", "queued")
        self.env.ref("sale_inbox.ir_cron_sync_stock").sudo()._trigger()
        return self._notify(self.env._("The stock sync has started; its run appears under Sync Runs."), "info")

    def _check_takes_stock(self):
        if self.platform not in platforms.supporting("can_sync_stock"):
            raise UserError(self.env._("%s takes no stock from Odoo.", self._platform().label))

    @api.model
    def _cron_sync_stock(self):
        """Sync Now requests and the daily runs, one channel after the other.

        Each channel is a unit of its own, in its own transaction (its run commits request by
        request): whatever goes wrong in one is shown on it and on its run, and the next
        channel is synced. A failed run is not repeated at every cron run: Sync Now (or
        tomorrow's daily run) tries again."""
        now = fields.Datetime.now()
        channels = self.search([("state", "=", "connected"), ("platform", "in", platforms.supporting("can_sync_stock")),
                                "|", ("sync_requested", "=", True), ("sync_daily", "=", True)])
        due = channels.filtered(lambda c: c.sync_requested or (
            now.hour >= c.sync_hour and c.last_sync_date != now.date()))
        commit = self._commit_allowed()
        for done, channel in enumerate(due):
            trigger = "manual" if channel.sync_requested else "daily"
            self._run_isolated(channel, "stock sync", partial(channel._sync_stock, trigger, commit=commit),
                               own_transaction=True, on_error=channel._sync_unit_failed)
            channel.write({"sync_requested": False, "last_sync_date": now.date()})
            self._notify_job_progress(done + 1, len(due) - done - 1)
            if commit:
                # The channel is done with, its run closed: kept whatever the next one does.
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _cron_push_stock(self):
        """Push on Change: send the SKUs that stock moves and incoming orders queued.

        Each channel is a unit of its own: whatever goes wrong in one is shown on it, the
        rows it had claimed are queued again for the next run, and the next channel goes."""
        channels = self.search([("push_on_change", "=", True), ("state", "=", "connected"),
                                ("platform", "in", platforms.supporting("can_sync_stock"))])
        commit = self._commit_allowed()
        for done, channel in enumerate(channels):
            rows = self._claim_fresh(self.env["sale.channel.product"]._claim_queued, channel)
            if rows:
                push = partial(channel._sync_stock, "push", rows=rows, commit=commit)
                self._run_isolated(channel, "stock push", push,
                                   own_transaction=True, on_error=partial(channel._push_failed, rows))
            self._notify_job_progress(done + 1, len(channels) - done - 1)
            if commit:
                # The claim and what the store accepted (or the rows queued again) are kept,
                # and the claimed rows' locks released, before the next channel.
                self.env.cr.commit()  # pylint: disable=invalid-commit

    def _sync_unit_failed(self, error):
        """A sync that failed outside its run's own error handling: shown on the channel, and
        on its form, which otherwise would show it queued or running for ever."""
        self._record_job_error(error)
        self._publish_progress("sync", "failed", message=error)

    def _push_failed(self, rows, error):
        """A push that failed outside its own error handling: shown on the channel, and its
        rows queued again (the claim took them off the queue)."""
        self._record_job_error(error)
        rows.exists().write({"push_queued": True})

    def _sync_stock(self, trigger="manual", rows=None, force=False, commit=False):
        """Send the store what changed since it last accepted a quantity; returns the run.

        ``rows`` limits the run to these store products (all mapped ones otherwise, after
        learning the ids of new SKUs); ``force`` sends them even when unchanged. Each API
        request's answer is recorded as it comes, so a failure loses only what was not sent;
        with ``commit`` (the cron), each is committed, which also shows the progress."""
        self.ensure_one()
        self._check_takes_stock()
        if self._stock_per_warehouse():
            return self._sync_stock_warehouses(trigger, rows=rows, force=force, commit=commit)
        self._close_interrupted_runs()
        run = self.env["sale.channel.sync"].create({"channel_id": self.id, "trigger": trigger})
        # Outside the cron (Push Odoo Figure) the request commits once, at its end.
        progress = partial(self._publish_progress, "sync", own_cursor=not commit)
        progress("running")
        if commit:
            # The run shows as running (and its progress) while it goes. A push's claim is
            # committed with it: from here on a failure queues the unsent rows again.
            self.env.cr.commit()  # pylint: disable=invalid-commit
        client = None
        unknown = set()
        given = rows
        probes = self.env["sale.channel.product"]
        try:
            # Whatever fails here (the store's answer, an unexpected exception) undoes this
            # step only, and closes the run as failed.
            with self.env.cr.savepoint():
                client = self._stock_client()
                if rows is None:
                    unknown, probes = self._learn_store_products(client, recheck=trigger == "manual")
                    rows = self.store_product_ids.filtered(lambda r: r.state == "mapped") | probes
                else:
                    rows = rows.filtered(lambda r: r.state == "mapped")
                changed, prices, prices_waiting = self._stock_changes(
                    rows, force, always=probes, price_limit=getattr(client, "price_changes_per_hour", 0))
                requests = client.stock_requests([update for _row, update in changed])
        except Exception as exc:  # noqa: BLE001 - any failure is this run's, recorded on it
            return self._sync_failed(run, client, exc, given or self.env["sale.channel.product"], commit=commit)
        waiting = self.env["sale.channel.product"].browse([row.id for row in prices_waiting])
        run.write({"checked": len(rows), "changed": len(changed), "waiting": len(waiting)})
        progress("running", 0, len(requests))
        row_of = {update.sku: row for row, update in changed}
        sent = failed = 0
        refused_all = []
        for done, request in enumerate(requests):
            try:
                # One request and the record of its answer: undone together on any failure,
                # so that nothing the store did not confirm is taken as sent.
                with self.env.cr.savepoint():
                    results = client.push_stock(request)
                    accepted, refused, lacking, later = self._record_push_answer(client, request, results, row_of)
            except Exception as exc:  # noqa: BLE001 - what was not sent waits for the next run
                unsent = self.env["sale.channel.product"].browse(
                    [row_of[u.sku].id for later in requests[done:] for u in later])
                return self._sync_failed(run, client, exc, unsent, sent=sent, failed=failed, commit=commit)
            sent, failed = sent + len(accepted), failed + len(refused)
            refused_all += refused
            waiting |= later
            unknown = (unknown - {row.sku for row, _u in accepted}) | {row.sku for row, _why in lacking}
            run.write({"sent": sent, "failed": failed, "waiting": len(waiting), "api_calls": client.http.calls,
                       "progress": round(100 * (done + 1) / len(requests))})
            progress("running", done + 1, len(requests))
            if commit:
                # Each answer is kept as it comes: a failure later loses only what was not sent.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        message = []
        if unknown:
            message.append(self.env._("Not in the store (%(count)s): %(skus)s", count=len(unknown),
                             skus=", ".join(sorted(unknown)[:50])))
        if refused_all:
            message.append(self.env._("Refused: %s", "; ".join(f"{row.sku}: {why}" for row, why in refused_all[:50])))
        if waiting:
            message.append(self.env._(
                "%s price changes wait for the store's limit (10 a product an hour): a later run sends them; "
                "the quantities were sent.", len(waiting)))
            if self.push_on_change:
                # Not queued through _queue_push: no wake-up now, the push job's next run sends them.
                waiting.write({"push_queued": True})
        run.write({"state": "done", "finished_at": fields.Datetime.now(), "progress": 100,
                   "api_calls": client.http.calls, "message": "\n".join(message) or False})
        if not refused_all:
            self.write({"last_error": False, "last_error_date": False})
        progress("done", len(requests), len(requests), self._sync_summary(run))
        return run

    def _sync_summary(self, run):
        summary = self.env._("%(sent)s sent, %(failed)s refused, %(checked)s checked.",
                             sent=run.sent, failed=run.failed, checked=run.checked)
        return f"{summary} {run.message}" if run.message else summary

    def _close_interrupted_runs(self):
        """A run still 'running' after an hour was cut short (the worker stopped): say so, so
        that neither the run list nor the progress bar shows it running for ever."""
        stale = self.env["sale.channel.sync"].search([
            ("channel_id", "in", self.ids), ("state", "=", "running"),
            ("started_at", "<", fields.Datetime.now() - timedelta(hours=SYNC_RUN_TIMEOUT_HOURS))])
        stale.write({"state": "failed", "finished_at": fields.Datetime.now(),
                     "message": self.env._("Interrupted: the run stopped before it finished.")})

    def _sync_failed(self, run, client, exc, unsent, sent=0, failed=0, commit=False):
        """Nothing unsent is marked as sent; with Push on Change it is queued again."""
        log_job_error(self, "stock sync", exc)
        error = job_error_text(exc)
        run.write({"state": "failed", "finished_at": fields.Datetime.now(), "message": error,
                   "sent": sent, "failed": failed, "api_calls": client.http.calls if client else 0})
        self._record_job_error(error)
        if self.push_on_change and unsent:
            unsent.write({"push_queued": True})
        self._publish_progress("sync", "failed", message=error, own_cursor=not commit)
        return run

    def _stock_client(self):
        """The API client, knowing where the store keeps stock (Shopify: a location, chosen
        by itself when the shop has only one)."""
        client = self._api_client()
        if self._platform().needs_stock_location and not self.store_location:
            locations = client.locations()
            if len(locations) != 1:
                raise UserError(self.env._("Choose the Shopify location the stock is sent to: %s",
                                  ", ".join(f"{name} ({ref})" for ref, name in locations) or self.env._("none found")))
            self.store_location = locations[0][0]
            client = self._api_client()
        return client

    def _record_push_answer(self, client, request, results, row_of):
        """Record the store's answer to one request: what it accepted, what it refused, and
        the SKUs it answered it does not have (clients say which in ``not_in_store``: a store
        that takes quantities by SKU learns of a SKU it lacks only by refusing it). Those are
        remembered, and not sent again until they are looked up again."""
        missing = set(client.not_in_store)
        # A price that must wait (the store's hourly limit) is not the store's yet: the row
        # keeps its last price, so that a later run sends it again; its quantity was taken.
        price_waits = getattr(client, "prices_waiting", None) or {}
        accepted = [(row_of[u.sku], replace(u, price=None) if u.sku in price_waits else u)
                    for u in request if results.get(u.sku, "not sent") is None]
        refused, lacking = [], []
        for update in request:
            why = results.get(update.sku, "not sent")
            if why is not None:
                (lacking if update.sku in missing else refused).append((row_of[update.sku], why or "not sent"))
        Row = self.env["sale.channel.product"]
        Row._record_accepted(accepted)
        Row._record_refused(refused)
        Row._record_not_in_store(lacking)
        if getattr(client, "price_changes_per_hour", 0):
            # The store counts price changes: so does Odoo (see _stock_changes).
            Row._record_prices([(row, u.price) for row, u in accepted if u.price is not None])
        later = Row.browse([row_of[sku].id for sku in price_waits if sku in row_of])
        return accepted, refused, lacking, later

    def _stock_changes(self, rows, force=False, always=(), price_limit=0):
        """[(row, StockUpdate)] for the rows whose quantity or price is not what the store last
        accepted (all of them with ``force``; ``always`` whatever they last accepted), the
        prices, and [row] whose price change waits: with ``price_limit`` (a store that takes
        so many price changes a product an hour), a change beyond it is left out of the
        update, which still carries the quantity (a price never holds a quantity back)."""
        available = self.env["sale.channel.stock"]._available(self, rows.product_id.ids)
        prices = self._store_prices(rows.product_id) if self.sync_prices else {}
        always = set(always.ids) if always else set()
        hour_ago = fields.Datetime.now() - timedelta(hours=1)
        changed, waiting = [], []
        for row in rows:
            quantity = available.get(row.product_id.id, 0.0)
            price = prices.get(row.product_id.id)
            price_changed = price is not None and (force or not row.last_sync_at or round(row.last_price, 2) != price)
            if price_changed and price_limit and len(_recent_changes(row.price_changed_at, hour_ago)) >= price_limit:
                waiting.append(row)
                price, price_changed = None, False
            elif price_limit and not price_changed:
                # Every price sent is a change the store counts: only changes are sent.
                price = None
            if force or row.id in always or not row.last_sync_at or row.last_quantity != quantity or price_changed:
                changed.append((row, StockUpdate(
                    row.sku, Decimal(str(quantity)), row.remote_id or "", row.remote_parent_id or "",
                    Decimal(str(price)) if price is not None else None, row.remote_inventory_id or "")))
        return changed, prices, waiting

    def _odoo_skus(self):
        """{SKU: product} of the products this channel may sell (with a SKU)."""
        products = self.env["product.product"].search_fetch(
            [("default_code", "!=", False), ("company_id", "in", [False, self.company_id.id]),
             ("sale_ok", "=", True)], ["default_code"])
        return {p.default_code: p for p in products}

    def _learn_store_products(self, client, recheck=True):
        """Map the SKUs of Odoo's products to the store's ids, asking the store (in pages) for
        new SKUs, and for those it did not know: always with ``recheck`` (Sync Now), otherwise
        once a day, so that products not sold online do not cost look-ups at every run.

        A SKU the store lacked (refused, or missing from a reconciliation) and that the look-up
        finds is sent as a probe and stays 'not in the store' until the store accepts its
        quantity: Mozello's and IdoSell's look-ups cannot see the store and find every SKU.
        Returns the SKUs the store does not know, and the probes."""
        known = {row.product_id.id: row for row in self.store_product_ids if row.product_id}
        stale = fields.Datetime.now() - timedelta(hours=UNKNOWN_SKU_RECHECK_HOURS)
        to_ask = [p for p in self._odoo_skus().values()
                  if p.id not in known or (known[p.id].state == "not_in_store" and (
                      recheck or not known[p.id].checked_at or known[p.id].checked_at < stale))]
        probes = self.env["sale.channel.product"]
        if to_ask:
            found = client.find_skus([p.default_code for p in to_ask])
            self._map_store_items(to_ask, found, known, confirmed=False)
            probes = self.env["sale.channel.product"].browse(
                [known[p.id].id for p in to_ask if p.id in known and p.default_code in found])
            Row = self.env["sale.channel.product"]
            Row.flush_model()
            self.env.cr.execute(
                "UPDATE sale_channel_product SET checked_at = %s WHERE channel_id = %s AND product_id = ANY(%s)",
                (fields.Datetime.now(), self.id, [p.id for p in to_ask]))
            Row.invalidate_model(["checked_at"])
        return set(self.store_product_ids.filtered(lambda r: r.state == "not_in_store").mapped("sku")), probes

    def _map_store_items(self, products, found, known, confirmed=True):
        """Create or update the store product rows of ``products`` from the store's items.
        Without ``confirmed`` (a look-up by SKU, not the store's catalog), a row the store
        lacked keeps that state: only its ids are updated."""
        new_rows, new_ids = [], []
        for product in products:
            item = found.get(product.default_code)
            values = {"sku": product.default_code, "state": "mapped" if item else "not_in_store",
                      "remote_id": item.remote_id if item else False,
                      "remote_parent_id": item.remote_parent_id or False if item else False,
                      "remote_inventory_id": item.inventory_id or False if item else False}
            row = known.get(product.id)
            if row is None:
                new_rows.append(dict(values, channel_id=self.id, product_id=product.id))
            elif item and not confirmed and row.state == "not_in_store":
                if (row.remote_id or "", row.remote_parent_id or "", row.remote_inventory_id or "") != item.ids():
                    new_ids.append((row, item))
            elif item and (row.state != "mapped" or (row.remote_id, row.remote_parent_id or "",
                                                     row.remote_inventory_id or "") != item.ids()):
                row.write(values)
            elif not item and row.state == "mapped":
                row.write(values)
        self.env["sale.channel.product"]._write_remote_ids(new_ids)
        return self.env["sale.channel.product"].create(new_rows)

    def action_reconcile(self):
        """Read every product of the store with its quantity, compare with what Odoo would
        send, and list where they disagree (and the SKUs only one side knows)."""
        self._check_manager()
        self.ensure_one()
        self._check_takes_stock()
        self._check_supports("can_reconcile_stock", self.env._(
            "%s's catalog cannot be read for a reconciliation.", self._platform().label))
        # One request reads the whole catalog: each page read is announced at once.
        progress = partial(self._publish_progress, "reconcile", own_cursor=True)
        progress("running")
        try:
            items = self._read_catalog(progress)
            differences = self.env["sale.channel.product"]._reconcile(self, items)
        except Exception as exc:
            progress("failed", message=job_error_text(exc))
            raise
        progress("done", message=self.env._("%(read)s products read, %(differ)s differ from Odoo.",
                                             read=len(items), differ=differences))
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_channel_product_action")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"search_default_differences": 1, "default_channel_id": self.id}
        return action

    def _read_catalog(self, progress):
        """{SKU: StoreItem} of the store's whole catalog, announcing each page read."""
        client = self._stock_client()
        items = {}
        try:
            for pages, page in enumerate(client.catalog(), start=1):
                items.update((item.sku, item) for item in page)
                progress("running", pages, 0, self.env._("%s products read from the store.", len(items)))
        except ApiError as exc:
            self.write({"last_error": str(exc), "last_error_date": fields.Datetime.now()})
            raise UserError(self.env._("The store did not answer: %s", exc)) from exc
        return items

    def _store_prices(self, products):
        """{product id: price the store should show}, in the store's currency, to the cent."""
        pricelist = self.sync_pricelist_id or self.pricelist_id
        if pricelist:
            prices = pricelist._get_products_price(products, 1.0)
            currency = pricelist.currency_id
        else:
            prices = {p.id: p.lst_price for p in products}
            currency = self.company_id.currency_id
        store_currency = self.store_currency_id or currency
        # One rate for the catalog: converting price by price would read the rates each time.
        rate = currency._get_conversion_rate(currency, store_currency, self.company_id, fields.Date.today())
        prices = {pid: price * rate for pid, price in prices.items()}
        if self.store_prices_include_tax:
            # Tax computed in the store's currency, so its rounding is the store's own.
            for product in products:
                taxes = product.taxes_id._filter_taxes_by_company(self.company_id)
                prices[product.id] = taxes.compute_all(
                    prices[product.id], store_currency, 1.0, product=product)["total_included"]
        return {pid: store_currency.round(price) for pid, price in prices.items()}

    # ------------------------------------------------------------------
    # Stores with warehouses of their own (Ozon): one quantity per product and warehouse
    # ------------------------------------------------------------------

    def _stock_store_warehouses(self):
        """The active store warehouses that get stock: those with an Odoo warehouse to take
        it from."""
        Stock = self.env["sale.channel.stock"]
        return self.store_warehouse_ids.filtered(lambda w: w.active and Stock._store_warehouse_sources(w))

    def _stock_per_warehouse(self):
        """Whether the store keeps stock per warehouse of its own, and some of them are mapped:
        then each product's quantity is sent per store warehouse (single-location stores are
        synced as before)."""
        self.ensure_one()
        return bool(self.support_list_warehouses and self._stock_store_warehouses())

    def _sync_stock_warehouses(self, trigger="manual", rows=None, force=False, commit=False):
        """``_sync_stock`` for stores with warehouses of their own: prices first (the store
        takes no stock for a product without one), then one quantity per product and store
        warehouse, each request's answer recorded as it comes.

        Only changes are sent, and a pair sent less than 30 s ago waits, as do price changes
        beyond 10 an hour: they are counted as waiting and sent by a later run (Push on Change
        queues their products again). A request that fails fails alone, its pairs recorded
        with the error; a store that cannot be talked to (credentials, rate, down) stops the
        run."""
        self._close_interrupted_runs()
        run = self.env["sale.channel.sync"].create({"channel_id": self.id, "trigger": trigger})
        progress = partial(self._publish_progress, "sync", own_cursor=not commit)
        progress("running")
        if commit:
            # As in _sync_stock: the run shows while it goes, a push's claim is kept.
            self.env.cr.commit()  # pylint: disable=invalid-commit
        Row = self.env["sale.channel.product"]
        client, unknown, given, probes = None, set(), rows, Row
        try:
            with self.env.cr.savepoint():
                client = self._stock_client()
                client.currency_code = self._store_currency().name or ""
                if rows is None:
                    unknown, probes = self._learn_store_products(client, recheck=trigger == "manual")
                    rows = self.store_product_ids.filtered(lambda r: r.state == "mapped") | probes
                else:
                    rows = rows.filtered(lambda r: r.state == "mapped")
                prices, prices_waiting = self._price_changes(rows, force) if self.sync_prices else ([], [])
                pairs, pairs_waiting = self._warehouse_stock_changes(rows, force, always=probes)
                requests = [("price", r) for r in client.price_requests([u for _row, u in prices])]
                requests += [("stock", r) for r in client.stock_requests([u for _key, u in pairs])]
        except Exception as exc:  # noqa: BLE001 - any failure is this run's, recorded on it
            return self._sync_failed(run, client, exc, given or Row, commit=commit)
        waiting = Row.browse(list({row.id for row in prices_waiting + pairs_waiting}))
        run.write({"checked": len(rows), "changed": len(prices) + len(pairs),
                   "waiting": len(prices_waiting) + len(pairs_waiting)})
        progress("running", 0, len(requests))
        row_of = {row.sku: row for row in rows}
        warehouse_of = {w.ref: w for w in self._stock_store_warehouses()}
        tally = {"sent": 0, "failed": 0, "waiting": run.waiting}
        refused_all, failures = [], []
        for done, (kind, request) in enumerate(requests):
            try:
                # One request and the record of its answer: undone together on any failure.
                with self.env.cr.savepoint():
                    if kind == "price":
                        answer = self._push_prices(client, request, row_of)
                    else:
                        answer = self._push_pairs(client, request, row_of, warehouse_of)
            except STORE_WIDE_ERRORS as exc:
                unsent = Row.browse(list({row_of[u.sku].id for _k, later in requests[done:] for u in later}))
                return self._sync_failed(run, client, exc, unsent, sent=tally["sent"], failed=tally["failed"],
                                         commit=commit)
            except Exception as exc:  # noqa: BLE001 - this request fails alone, the next ones go
                log_job_error(self, "stock sync request", exc)
                answer = self._request_failed(kind, request, job_error_text(exc), row_of, warehouse_of)
                failures.append(job_error_text(exc))
            accepted, refused, lacking, later = answer
            tally["sent"] += len(accepted)
            tally["failed"] += len(refused)
            tally["waiting"] += len(later)
            refused_all += refused
            waiting |= Row.browse(list({row.id for row, _why in later}))
            unknown = (unknown - {row.sku for row in accepted}) | {row.sku for row, _why in lacking}
            run.write({"sent": tally["sent"], "failed": tally["failed"], "waiting": tally["waiting"],
                       "api_calls": client.http.calls, "progress": round(100 * (done + 1) / len(requests))})
            progress("running", done + 1, len(requests))
            if commit:
                # Each answer is kept as it comes: a failure later loses only what was not sent.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        if waiting and self.push_on_change:
            # Not queued through _queue_push: no wake-up now, the push job's next run sends them.
            waiting.write({"push_queued": True})
        message = self._warehouse_run_message(unknown, refused_all, tally["waiting"], failures)
        run.write({"state": "done", "finished_at": fields.Datetime.now(), "progress": 100,
                   "api_calls": client.http.calls, "message": message or False})
        if not refused_all and not failures:
            self.write({"last_error": False, "last_error_date": False})
        elif failures:
            self._record_job_error(failures[0])
        progress("done", len(requests), len(requests), self._sync_summary(run))
        return run

    def _warehouse_run_message(self, unknown, refused, waiting, failures):
        message = []
        if unknown:
            message.append(self.env._("Not in the store (%(count)s): %(skus)s", count=len(unknown),
                                      skus=", ".join(sorted(unknown)[:50])))
        if refused:
            message.append(self.env._("Refused: %s", "; ".join(f"{row.sku}: {why}" for row, why in refused[:50])))
        if failures:
            message.append(self.env._("Requests that failed (%(count)s): %(errors)s", count=len(failures),
                                      errors="; ".join(failures[:5])))
        if waiting:
            message.append(self.env._(
                "%s changes wait for the store's limits (a product and warehouse at most every 30 s, 10 price "
                "changes a product an hour): a later run sends them.", waiting))
        return "\n".join(message)

    def _store_currency(self):
        pricelist = self.sync_pricelist_id or self.pricelist_id
        return self.store_currency_id or pricelist.currency_id or self.company_id.currency_id

    def _warehouse_stock_changes(self, rows, force=False, always=()):
        """([((row, store warehouse), StockUpdate)] to send, [row] of pairs that wait): the
        pairs whose quantity is not what the store last accepted (all with ``force``, the
        ``always`` rows whatever they last accepted), less those sent in the last 30 s.
        One availability query per store warehouse, one query for the pairs' state."""
        store_warehouses = self._stock_store_warehouses()
        Stock = self.env["sale.channel.stock"]
        available = {w.id: Stock._available(self, rows.product_id.ids, warehouses=Stock._store_warehouse_sources(w))
                     for w in store_warehouses}
        states = self.env["sale.channel.product.stock"]._states(rows, store_warehouses)
        always = set(always.ids) if always else set()
        recent = fields.Datetime.now() - timedelta(seconds=PAIR_INTERVAL_SECONDS)
        changed, waiting = [], []
        for row in rows:
            for warehouse in store_warehouses:
                quantity = available[warehouse.id].get(row.product_id.id, 0.0)
                last_quantity, accepted_on, sent_on = states.get((row.id, warehouse.id), (0.0, None, None))
                if not (force or row.id in always or not accepted_on or last_quantity != quantity):
                    continue
                if sent_on and sent_on > recent:
                    waiting.append(row)
                    continue
                changed.append(((row, warehouse), StockUpdate(
                    row.sku, Decimal(str(quantity)), row.remote_id or "", warehouse_ref=warehouse.ref)))
        return changed, waiting

    def _price_changes(self, rows, force=False):
        """([(row, StockUpdate with the price)] to send, [row] whose change waits): the rows
        whose price is not the one the store last accepted, less those that had 10 changes in
        the last hour (Ozon's limit: the change waits until the oldest is an hour old)."""
        prices = self._store_prices(rows.product_id)
        hour_ago = fields.Datetime.now() - timedelta(hours=1)
        changed, waiting = [], []
        for row in rows:
            price = prices.get(row.product_id.id)
            if price is None or not (force or not row.last_price_at or round(row.last_price, 2) != price):
                continue
            if len(_recent_changes(row.price_changed_at, hour_ago)) >= PRICE_CHANGES_PER_HOUR:
                waiting.append(row)
                continue
            changed.append((row, StockUpdate(row.sku, Decimal(0), row.remote_id or "", price=Decimal(str(price)))))
        return changed, waiting

    def _push_prices(self, client, request, row_of):
        """Send one request's prices and record the answer: (accepted rows, [(row, why)]
        refused, [(row, why)] not in the store, [(row, why)] waiting)."""
        results = client.push_prices(request)
        missing = set(client.not_in_store)
        accepted, refused, lacking, later = [], [], [], []
        for update in request:
            row, why = row_of[update.sku], results.get(update.sku, "not sent")
            if why is None:
                accepted.append((row, update.price))
            elif getattr(why, "wait", False):
                later.append((row, why))
            else:
                (lacking if update.sku in missing else refused).append((row, self.env._("Price: %s", why)))
        self.env["sale.channel.product"]._record_prices(accepted)
        Row = self.env["sale.channel.product"]
        Row._record_refused(refused)
        Row._record_not_in_store(lacking)
        return [row for row, _p in accepted], refused, lacking, later

    def _push_pairs(self, client, request, row_of, warehouse_of):
        """Send one request's quantities and record the answer per pair, then on each store
        product the sums (same tuple as ``_push_prices``, one entry per pair)."""
        results = client.push_stock(request)
        missing = set(client.not_in_store)
        answers, accepted, refused, lacking, later = [], [], [], [], []
        for update in request:
            row, warehouse = row_of[update.sku], warehouse_of[update.warehouse_ref]
            why = results.get((update.sku, update.warehouse_ref), "not sent")
            if why is None:
                state = "sent"
                accepted.append(row)
            elif getattr(why, "wait", False):
                state = "waiting"
                later.append((row, why))
            else:
                state = "refused"
                if update.sku in missing:
                    lacking.append((row, why))
                else:
                    refused.append((row, f"{warehouse.name}: {why}"))
            answers.append((row.id, warehouse.id, update.quantity, state, why or ""))
        self.env["sale.channel.product.stock"]._record_answers(self, answers)
        Row = self.env["sale.channel.product"]
        Row._sum_warehouse_stock(self._stock_store_warehouses(), {row_of[u.sku].id for u in request},
                                 {row.id for row in accepted})
        Row._record_not_in_store(list({row.id: (row, why) for row, why in lacking}.values()))
        return accepted, refused, lacking, later

    def _request_failed(self, kind, request, error, row_of, warehouse_of):
        """A request that failed on its own (an answer that is not Ozon's, an unexpected
        error): its pairs (or prices) are recorded as refused with the error, and sent again
        by the next run, as they are still changes."""
        refused = [(row_of[u.sku], error) for u in request]
        if kind == "stock":
            answers = [(row_of[u.sku].id, warehouse_of[u.warehouse_ref].id, u.quantity, "refused", error)
                       for u in request]
            self.env["sale.channel.product.stock"]._record_answers(self, answers)
        self.env["sale.channel.product"]._record_refused(list({row.id: (row, why) for row, why in refused}.values()))
        return [], refused, [], []



def _recent_changes(text, since):
    """The price change times of a store product (``price_changed_at``) after ``since``."""
    return [moment for moment in _parse_times(text) if moment > since]
