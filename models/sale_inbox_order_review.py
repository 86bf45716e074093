"""The review screen of an inbox order: the store's lines, the payment method and its
mapping, every problem at once, and the buttons that fix each problem."""
import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..platforms import InvalidPayload
from .sale_channel import MANAGER, USER, check_group_access
from .sale_inbox_order import log_unexpected

_logger = logging.getLogger(__name__)

#: The states of an order that failed: the only ones whose problems are looked for.
FAILED_STATES = ("error", "needs_review")
#: The steps whose failures the checks find again by themselves. Not "order": its other
#: failures (a foreign document, a crash building the sales order) are no check's to clear.
CHECKED_STEPS = ("payment_mapping", "products", "currency", "amount_check")


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    line_ids = fields.One2many("sale.inbox.order.line", "order_id", string="Store Lines")
    problem_ids = fields.One2many("sale.inbox.order.problem", "order_id", string="Problems")
    payment_method_id = fields.Many2one(
        "sale.channel.payment.method", string="Payments Mapping", compute="_compute_payment_method",
        help="The channel's row for the store's payment method: the journal that receives its payments.")
    problems_checked_at = fields.Datetime(
        readonly=True, copy=False, help="When the order's problems were last looked for (it had stopped).")
    payment_journal_id = fields.Many2one("account.journal", compute="_compute_payment_method")
    payment_method_mapped = fields.Boolean(compute="_compute_payment_method")

    def _compute_payment_method(self):
        # One search for every order shown (a list, a form).
        keys = {(o.channel_id.id, o.payment_method_code) for o in self if o.payment_method_code}
        rows = {}
        if keys:
            Method = self.env["sale.channel.payment.method"]
            for method in Method.search([("channel_id", "in", list({k[0] for k in keys})),
                                         ("code", "in", list({k[1] for k in keys}))]):
                rows[method.channel_id.id, method.code] = method
        for order in self:
            method = rows.get((order.channel_id.id, order.payment_method_code))
            order.payment_method_id = method
            order.payment_journal_id = method.journal_id if method else False
            order.payment_method_mapped = bool(method and method.is_mapped)

    # ------------------------------------------------------------------
    # Every problem at once
    # ------------------------------------------------------------------

    def action_check_again(self):
        """Look for this order's problems again (after a fix made elsewhere)."""
        self._check_button()
        self.sudo()._refresh_problems(after_fix=True)
        return True

    def _refresh_problems(self, after_fix=False):
        """The problems of these orders, as they stand now: those that failed are checked,
        the others have none. Called by processing for the orders it ran (one statement for
        orders that did not fail) and never allowed to disturb it: a check that fails is
        logged and leaves the list as it was. ``after_fix``: see ``_check_problems``."""
        failed = self.filtered(lambda o: o.state in FAILED_STATES)
        try:
            with self.env.cr.savepoint():
                (self - failed).problem_ids.unlink()
                if failed:
                    failed._check_problems(after_fix)
        except Exception as exc:  # noqa: BLE001 -- the list of problems is a help, not the work
            log_unexpected(_logger, "Sales Inbox: looking for the problems of orders %s failed", exc, self.ids)

    def _check_problems(self, after_fix=False):
        """Run every check on these (failed) orders and store what each finds: a search per
        kind of record for all the orders, never one per line or per order.

        When the checks find nothing, the step's own error is listed (a foreign document, a
        crash: what they do not know), unless this is a check after a fix (a button, Check
        Again) and the step is one the checks cover: its error is then the old one, and the
        empty list tells the person that Retry may go on."""
        self.problem_ids.unlink()
        parsed = {}
        problems = defaultdict(list)
        for order in self:
            try:
                parsed[order] = order._read_normalized()
            except InvalidPayload as exc:
                problems[order].append({"kind": "other", "message": str(exc)})
        # The orders whose sales order is still to be built (or rebuilt): the others are past
        # products, currency and pricelist.
        to_build = {o: n for o, n in parsed.items() if not o.sale_order_id
                    or (o.sale_order_id.state == "draft" and o.built_fingerprint != o.fingerprint)}
        self._check_product_problems(to_build, problems)
        self._check_payment_problems(parsed, problems)
        self._check_currency_problems(to_build, problems)
        for order in self:
            if order.state == "needs_review" and order.failed_step == "amount_check":
                problems[order].append({"kind": "amount_difference", "message": order.error_message})
            covered = after_fix and order.failed_step in CHECKED_STEPS
            if not problems[order] and order.error_message and not covered:
                # What the checks do not know (a foreign document, a crash): the step's own error.
                problems[order].append({"kind": "other", "message": order.error_message})
        self.with_context(sale_inbox_internal=True).write({"problems_checked_at": fields.Datetime.now()})
        self.env["sale.inbox.order.problem"].create([
            dict(vals, order_id=order.id, sequence=sequence)
            for order in self for sequence, vals in enumerate(problems[order])
        ])

    def _check_product_problems(self, parsed, problems):
        if not parsed:
            return
        by_company = defaultdict(set)
        for order, n in parsed.items():
            by_company[order.company_id.id].update(line.sku for line in n.lines if line.sku)
        found = {}
        for company_id, skus in by_company.items():
            counts = defaultdict(int)
            for product in self.env["product.product"].search(
                    [("default_code", "in", list(skus)), ("company_id", "in", [False, company_id])]):
                counts[product.default_code] += 1
            found[company_id] = counts
        for order, n in parsed.items():
            counts = found.get(order.company_id.id, {})
            nameless = [line.name or "?" for line in n.lines if not line.sku]
            if nameless:
                problems[order].append({"kind": "sku_empty", "message": self.env._(
                    "Lines without a SKU: %s. Give the products a SKU in the store, or correct the order.",
                    ", ".join(nameless))})
            seen = set()
            for line in n.lines:
                if not line.sku or line.sku in seen:
                    continue
                seen.add(line.sku)
                if not counts.get(line.sku) and line.name:
                    problems[order].append({"kind": "sku_missing", "sku": line.sku, "message": self.env._(
                        "No product has the internal reference %(sku)s (%(name)s): link a product or create one.",
                        sku=line.sku, name=line.name)})
                elif not counts.get(line.sku):
                    problems[order].append({"kind": "sku_missing", "sku": line.sku, "message": self.env._(
                        "No product has the internal reference %(sku)s: link a product or create one.",
                        sku=line.sku)})
                elif counts[line.sku] > 1:
                    problems[order].append({"kind": "sku_ambiguous", "sku": line.sku, "message": self.env._(
                        "Several products share the internal reference %s: keep one.", line.sku)})
            channel = order.channel_id
            if any(s.price for s in n.shipping_lines) and not channel.shipping_product_id:
                problems[order].append({"kind": "charge_product", "message": self.env._(
                    "The order charges shipping but the channel has no shipping product.")})
            if any(f.price for f in n.fee_lines) and not channel.fee_product_id:
                problems[order].append({"kind": "charge_product", "message": self.env._(
                    "The order has other charges but the channel has no fee product.")})

    def _check_payment_problems(self, parsed, problems):
        todo = {o: n for o, n in parsed.items() if o.channel_id.add_payment and n.paid and not o.payment_id}
        if not todo:
            return
        methods = {
            (m.channel_id.id, m.code): m
            for m in self.env["sale.channel.payment.method"].search([
                ("channel_id", "in", list({o.channel_id.id for o in todo})),
                ("code", "in", list({n.payment.method_code for n in todo.values()})),
            ])
        }
        for order, n in todo.items():
            code = n.payment.method_code
            method = methods.get((order.channel_id.id, code))
            if not code:
                problems[order].append({"kind": "method_missing", "message": self.env._(
                    "The store reports this order paid but names no payment method.")})
            elif not method or not method.is_mapped:
                problems[order].append({
                    "kind": "method_unmapped", "method_code": code, "method_id": method.id if method else False,
                    "message": self.env._(
                        "Payment method “%(method)s” (%(code)s) is not mapped to a journal.",
                        method=(method.name if method else n.payment.method_name) or code, code=code)})

    def _check_currency_problems(self, parsed, problems):
        if not parsed:
            return
        codes = {n.currency for n in parsed.values()}
        currencies = {c.name: c for c in self.env["res.currency"].with_context(active_test=False).search(
            [("name", "in", list(codes))])}
        wanted = [c.id for c in currencies.values()]
        companies = list({o.company_id.id for o in parsed})
        pricelists = set()
        for pricelist in self.env["product.pricelist"].search(
                [("currency_id", "in", wanted), ("company_id", "in", [False, *companies])]):
            for company_id in ([pricelist.company_id.id] if pricelist.company_id else companies):
                pricelists.add((pricelist.currency_id.id, company_id))
        for order, n in parsed.items():
            currency = currencies.get(n.currency)
            if not currency:
                problems[order].append({"kind": "currency_unknown", "currency_code": n.currency, "message": self.env._(
                    "Odoo knows no currency %s: correct the order.", n.currency)})
                continue
            if not currency.active:
                problems[order].append({
                    "kind": "currency_inactive", "currency_code": n.currency, "currency_id": currency.id,
                    "message": self.env._("Currency %s is not active in Odoo.", n.currency)})
            # As processing chooses it (sale.inbox.processor._pricelist_for).
            if (currency != order.company_id.currency_id and order.channel_id.pricelist_id.currency_id != currency
                    and (currency.id, order.company_id.id) not in pricelists):
                problems[order].append({
                    "kind": "pricelist_missing", "currency_code": n.currency, "currency_id": currency.id,
                    "message": self.env._("No pricelist in %s.", n.currency)})

    # ------------------------------------------------------------------
    # What fixes a problem
    # ------------------------------------------------------------------

    def _check_product_rights(self):
        """Linking or creating a product changes the product catalogue: a Sales Inbox manager,
        or whoever may create products anyway (a sales or product manager)."""
        self._check_button()
        if self.env.su or self.env.user.has_group(MANAGER) or self.env["product.product"].has_access("create"):
            return
        raise AccessError(self.env._(
            "Only a Sales Inbox manager, or someone who may create products, can link or create a product."))

    def _check_link_rights(self, product):
        """Linking a product that has no Internal Reference only names it as the store does:
        any inbox user may, from the order it stops. Replacing a product's reference may
        break another store's lookups: the same people as for creating products."""
        self._check_button()
        if product.sudo().default_code:
            self._check_product_rights()

    def _sku_line(self, sku):
        self.ensure_one()
        try:
            lines = self._read_normalized().lines
        except InvalidPayload as exc:
            raise UserError(str(exc)) from exc
        line = next((line for line in lines if line.sku and line.sku == sku), None)
        if not line:
            raise UserError(self.env._("The order has no line with the SKU %s.", sku))
        return line

    def action_open_link_product(self, sku):
        """Choose an existing product for a SKU of the order (the Link Product dialog); who
        may link which product is checked on the product chosen (``_check_link_rights``)."""
        self.ensure_one()
        self._check_button()
        line = self._sku_line(sku)
        wizard = self.env["sale.inbox.link.product"].create({"order_id": self.id, "sku": line.sku,
                                                             "line_name": line.name})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Link Product to %s", line.sku),
            "res_model": "sale.inbox.link.product",
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }

    def _link_product(self, sku, product):
        """Make ``product`` the one processing finds for ``sku``: the products step looks SKUs up
        as the variant's Internal Reference, so that is what is set."""
        self.ensure_one()
        self._check_link_rights(product)
        line = self._sku_line(sku)
        product = product.sudo()
        if product.company_id and product.company_id != self.company_id:
            raise UserError(self.env._("%(product)s belongs to another company.", product=product.display_name))
        others = product.search([("default_code", "=", line.sku), ("id", "!=", product.id),
                                 ("company_id", "in", [False, self.company_id.id])])
        if others:
            raise UserError(self.env._(
                "%(products)s already has the internal reference %(sku)s.",
                products=", ".join(others.mapped("display_name")), sku=line.sku))
        old = product.default_code
        product.default_code = line.sku
        if old and old != line.sku:
            message = self.env._("%(product)s linked to SKU %(sku)s by %(user)s (its internal reference was %(old)s).",
                                 product=product.display_name, sku=line.sku, user=self.env.user.name, old=old)
        else:
            message = self.env._("%(product)s linked to SKU %(sku)s by %(user)s.",
                                 product=product.display_name, sku=line.sku, user=self.env.user.name)
        self.sudo().message_post(body=message)
        self.sudo()._refresh_problems(after_fix=True)
        return product

    def action_create_product_for_sku(self, sku):
        """Create the product of a SKU the store sold: its name and price from the line; a
        goods product invoiced on order, as the store sold it."""
        self.ensure_one()
        self._check_product_rights()
        line = self._sku_line(sku)
        Product = self.env["product.product"].sudo()
        if Product.search_count([("default_code", "=", line.sku), ("company_id", "in", [False, self.company_id.id])]):
            raise UserError(self.env._("A product with the internal reference %s exists already.", line.sku))
        product = Product.create(self._prepare_product_vals(line))
        self.sudo().message_post(body=self.env._(
            "Product %(product)s created for SKU %(sku)s by %(user)s.",
            product=product.display_name, sku=line.sku, user=self.env.user.name))
        self.sudo()._refresh_problems(after_fix=True)
        return {
            "type": "ir.actions.act_window",
            "res_model": "product.product",
            "res_id": product.id,
            "view_mode": "form",
            "target": "new",
        } if self.env["product.product"].has_access("write") else True

    def _prepare_product_vals(self, line):
        """Values of a product created for a store line (``line``: an ``OrderLine``)."""
        return {
            "name": line.name or line.sku,
            "default_code": line.sku,
            "type": "consu",
            "list_price": float(line.unit_price),
            "invoice_policy": "order",
            "company_id": self.company_id.id,
        }

    def action_map_payment_method(self):
        """Open the channel's row for the order's payment method, made if the store's method is
        not known yet, to choose the journal that receives its payments. Any inbox user may map
        a method that has no mapping yet (the order it stops is theirs to fix); changing a
        mapping is a manager's (see ``sale.channel.payment.method.write``)."""
        self.ensure_one()
        check_group_access(self, USER, "write")
        code = self.payment_method_code
        if not code:
            raise UserError(self.env._("The store names no payment method for this order."))
        manager = self.env.su or self.env.user.has_group(MANAGER)
        self.channel_id.check_access("write" if manager else "read")
        method = self.payment_method_id
        if method.is_mapped and not manager:
            raise AccessError(self.env._("Only a Sales Inbox manager can change a payment method's mapping."))
        if not method:
            try:
                name = self._read_normalized().payment.method_name
            except InvalidPayload:
                name = ""
            # The row of the method the order names, nothing more: made for a user too.
            method = self.env["sale.channel.payment.method"].sudo().create(
                {"channel_id": self.channel_id.id, "code": code, "name": name or code}).sudo(False)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Map Payment Method"),
            "res_model": "sale.channel.payment.method",
            "res_id": method.id,
            "view_mode": "form",
            "views": [(self.env.ref("sale_inbox.sale_channel_payment_method_view_form_review").id, "form")],
            "target": "new",
        }

    def _problem_currency(self):
        self.ensure_one()
        try:
            code = self._read_normalized().currency
        except InvalidPayload as exc:
            raise UserError(str(exc)) from exc
        currency = self.env["res.currency"].with_context(active_test=False).search([("name", "=", code)], limit=1)
        if not currency:
            raise UserError(self.env._("Odoo knows no currency %s: correct the order.", code))
        return currency

    def action_activate_currency(self):
        """Activate the order's currency: a change of the whole database's settings, so for
        whoever may change currencies (an administrator, an accounting manager)."""
        self.ensure_one()
        self._check_button()
        currency = self._problem_currency()
        if not self.env["res.currency"].has_access("write"):
            raise AccessError(self.env._("Only an administrator or an accounting manager can activate a currency."))
        currency.write({"active": True})
        # The inbox's own columns follow: intake found no active currency of that name.
        self.sudo().with_context(sale_inbox_internal=True).search(
            [("company_id", "=", self.company_id.id), ("currency_id", "=", False),
             ("state", "not in", ("done", "cancelled"))],
        ).filtered(lambda o: o._currency_code() == currency.name).write({"currency_id": currency.id})
        self.sudo().message_post(body=self.env._("Currency %(currency)s activated by %(user)s.",
                                                 currency=currency.name, user=self.env.user.name))
        self.sudo()._refresh_problems(after_fix=True)
        return True

    def _currency_code(self):
        try:
            return self._read_normalized().currency
        except InvalidPayload:
            return None

    def action_create_pricelist(self):
        """A new pricelist in the order's currency (for whoever may create pricelists)."""
        self.ensure_one()
        self._check_button()
        currency = self._problem_currency()
        if not self.env["product.pricelist"].has_access("create"):
            raise AccessError(self.env._("Only a sales manager can create a pricelist."))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New Pricelist"),
            "res_model": "product.pricelist",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_name": f"{self.channel_id.name} {currency.name}",
                "default_currency_id": currency.id,
                "default_company_id": self.company_id.id,
            },
        }


class SaleInboxLinkProduct(models.TransientModel):
    """Link Product: the existing product a SKU of an inbox order stands for."""

    _name = "sale.inbox.link.product"
    _description = "Link a Product to a Store SKU"

    order_id = fields.Many2one("sale.inbox.order", required=True, readonly=True, ondelete="cascade")
    company_id = fields.Many2one(related="order_id.company_id")
    sku = fields.Char(string="SKU", required=True, readonly=True)
    line_name = fields.Char(string="In the Store", readonly=True)
    product_id = fields.Many2one(
        "product.product", string="Odoo Product",
        domain="[('company_id', 'in', [False, company_id])]")
    current_code = fields.Char(related="product_id.default_code", string="Its Internal Reference")

    @api.model_create_multi
    def create(self, vals_list):
        # Only through the order's button; Link checks the rights on the product chosen.
        for vals in vals_list:
            self.env["sale.inbox.order"].browse(vals.get("order_id"))._check_button()
        return super().create(vals_list)

    def action_link(self):
        self.ensure_one()
        check_group_access(self, USER, "write")
        if not self.product_id:
            raise UserError(self.env._("Choose the product the SKU stands for."))
        self.order_id._link_product(self.sku, self.product_id)
        return {"type": "ir.actions.act_window_close"}
