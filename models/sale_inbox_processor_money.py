"""Processing, after the sales order exists: payment methods, the amount check,
confirmation, invoices, payments and the e-mail to the customer."""
from collections import defaultdict

from psycopg2 import IntegrityError

from odoo import models
from odoo.exceptions import UserError
from odoo.tools import float_compare


class SaleInboxProcessor(models.AbstractModel):
    _inherit = "sale.inbox.processor"

    def _step_payment_methods(self, run, orders):
        """Learn the store's payment methods; stop paid orders whose method is not mapped."""
        channel = run.channel
        Method = self.env["sale.channel.payment.method"]
        codes = {run.normalized(o).payment.method_code for o in orders} - {""}
        known = {m.code: m for m in Method.search([("channel_id", "=", channel.id), ("code", "in", list(codes))])}
        for order in orders:
            payment = run.normalized(order).payment
            code = payment.method_code
            if code and code not in known:
                try:
                    with self.env.cr.savepoint():
                        known[code] = Method.create({
                            "channel_id": channel.id,
                            "code": code,
                            "name": payment.method_name or code,
                        })
                except IntegrityError:  # another worker learnt it first
                    known[code] = Method.search([("channel_id", "=", channel.id), ("code", "=", code)])
        run.methods.update(known)
        if not channel.add_payment:
            return orders
        going_on = orders.browse()
        for order in orders:
            n = run.normalized(order)
            if not n.paid or order.payment_id:
                going_on |= order
                continue
            method = known.get(n.payment.method_code)
            if not method:
                order._fail("payment_mapping", self.env._(
                    "The store reports this order paid but names no payment method, so no "
                    "journal can receive the payment."))
            elif not method.is_mapped:
                order._fail("payment_mapping", self.env._(
                    "Payment method “%(method)s” is not mapped to a journal. Map it "
                    "in the channel's Payments Mapping, then Retry.",
                    method=method.name or method.code))
            else:
                going_on |= order
        return going_on

    def _step_check_amounts(self, run, orders):
        channel = run.channel
        going_on = orders.browse()
        for order in orders:
            so = order.sale_order_id
            n = run.normalized(order)
            currency = so.currency_id
            difference = currency.round(float(n.total) - so.amount_total)
            order.write({"odoo_amount_total": so.amount_total, "amount_difference": difference})
            over = float_compare(
                abs(difference), channel.amount_tolerance, precision_rounding=currency.rounding
            ) > 0
            if not over or order.amount_accepted or so.state != "draft":
                going_on |= order
                continue
            message = self.env._(
                "The store's total %(store)s differs from the Odoo total %(odoo)s by %(diff)s.",
                store=n.total, odoo=so.amount_total, diff=difference,
            )
            # A manager's Accept Difference sets amount_accepted on the order itself (above).
            if channel.amount_mismatch_action == "continue":
                run.notes[order.id].append(message)
                order.amount_accepted = True
                going_on |= order
            else:
                order._fail("amount_check", message + " " + self.env._(
                    "The document stays a draft and no payment is added: correct it and "
                    "Retry, or Accept the difference."), state="needs_review")
        return going_on

    def _step_confirm(self, run, orders):
        doc = run.channel.document_type
        if doc == "quotation" or (doc == "order" and not run.channel.auto_confirm):
            return orders
        todo = orders.filtered(lambda o: o.sale_order_id.state in ("draft", "sent"))
        todo.sale_order_id.action_confirm()
        for order in todo:
            run.notes[order.id].append(self.env._("confirmed"))
        return orders

    def _step_invoice(self, run, orders):
        if run.channel.document_type != "invoice":
            return orders
        todo = orders.filtered(lambda o: not o.invoice_id)
        if not todo:
            return orders
        todo.sale_order_id._create_invoices(grouped=True)
        for order in todo:
            invoice = order.sale_order_id.invoice_ids.filtered(lambda m: m.state != "cancel")[:1]
            if not invoice:
                raise UserError(self.env._("Odoo made no invoice for %s.", order.sale_order_id.name))
            order.invoice_id = invoice
            run.notes[order.id].append(self.env._("invoice created"))
        return orders

    def _step_post_invoices(self, run, orders):
        if not run.channel.auto_confirm:
            return orders
        todo = orders.filtered(lambda o: o.invoice_id.state == "draft")
        todo.invoice_id.action_post()
        for order in todo:
            run.notes[order.id].append(self.env._("invoice %s posted", order.invoice_id.name))
        return orders

    def _step_add_payments(self, run, orders):
        if not run.channel.add_payment:
            return orders
        todo = orders.browse()
        for order in orders.filtered(lambda o: not o.payment_id):
            n = run.normalized(order)
            method = run.methods.get(n.payment.method_code)
            if n.paid and n.payment.amount > 0 and method and method.means_paid:
                todo |= order
        todo = self._without_payment_made(run, todo)
        if not todo:
            return orders
        against_invoice = todo.filtered(
            lambda o: o.invoice_id.state == "posted" and o.invoice_id.payment_state == "not_paid"
        )
        self._register_invoice_payments(run, against_invoice)
        self._register_advances(run, todo - against_invoice)
        for order in todo:
            run.notes[order.id].append(self.env._(
                "payment of %(amount)s registered in %(journal)s",
                amount=order.payment_id.amount, journal=order.payment_id.journal_id.name))
        return orders

    def _without_payment_made(self, run, orders):
        """These orders but those paid already: never a second payment.

        A payment processing registered for an order (it names the order) is linked back when
        the order lost its link to it, and nothing is registered again; a posted invoice that
        is no longer unpaid (a person or another payment paid it) gets nothing either."""
        if not orders:
            return orders
        made = self.env["account.payment"].search([
            ("sale_inbox_order_id", "in", orders.ids), ("state", "not in", ("canceled", "rejected"))], order="id")
        for payment in made:
            order = payment.sale_inbox_order_id
            if not order.payment_id:
                order.payment_id = payment
                run.notes[order.id].append(self.env._(
                    "payment %s, registered before for this order, kept", payment.name))
        paid = orders.filtered(lambda o: not o.payment_id and o.invoice_id.state == "posted"
                               and o.invoice_id.payment_state != "not_paid")
        for order in paid:
            run.notes[order.id].append(self.env._(
                "invoice %s is paid already: no payment added", order.invoice_id.name))
        return orders.filtered(lambda o: not o.payment_id) - paid

    def _journal_for(self, run, order):
        return run.methods[run.normalized(order).payment.method_code].journal_id

    def _register_invoice_payments(self, run, orders):
        """One payment per invoice, registered through Odoo's own wizard per journal."""
        by_journal = defaultdict(lambda: orders.browse())
        for order in orders:
            by_journal[self._journal_for(run, order)] |= order
        for journal, group in by_journal.items():
            exact = group.filtered(lambda o: o.invoice_id.currency_id.compare_amounts(
                float(run.normalized(o).payment.amount), o.invoice_id.amount_residual) == 0)
            batches = [(exact, {})] + [
                (o, {"amount": float(run.normalized(o).payment.amount), "payment_difference_handling": "open"})
                for o in group - exact
            ]
            for batch, extra in batches:
                if not batch:
                    continue
                wizard = self.env["account.payment.register"].with_context(
                    active_model="account.move", active_ids=batch.invoice_id.ids
                ).create(self._prepare_payment_register_vals(run, batch, journal, extra))
                for payment in wizard._create_payments():
                    for order in batch.filtered(lambda o, p=payment: o.invoice_id in p.invoice_ids):
                        order.payment_id = payment
                        # What proves the payment is this order's, should the order lose its link.
                        payment.sale_inbox_order_id = order

    def _prepare_payment_register_vals(self, run, orders, journal, extra):
        """Values of Odoo's payment wizard for the posted invoices of ``orders`` (one journal)."""
        vals = {"journal_id": journal.id, "group_payment": False, **extra}
        if len(orders.invoice_id) > 1:
            # Over several invoices the wizard numbers a memo of its own from the company's
            # gapless BATCH/ sequence (a row lock taken NOWAIT and held until commit), though
            # with one payment per invoice that memo is never used: a concurrent batch would
            # fail on it. Each payment still gets its own invoice's reference.
            vals["communication"] = run.channel.name
        return vals

    def _register_advances(self, run, orders):
        """Without a posted invoice the money is kept as the customer's advance."""
        if not orders:
            return
        payments = self.env["account.payment"].create(
            [dict(self._prepare_payment_vals(run, order), sale_inbox_order_id=order.id) for order in orders])
        payments.action_post()
        for order, payment in zip(orders, payments, strict=True):
            order.payment_id = payment

    def _prepare_payment_vals(self, run, order):
        """Values of the customer payment (``account.payment``) kept as an advance."""
        n = run.normalized(order)
        so = order.sale_order_id
        return {
            "payment_type": "inbound",
            "partner_type": "customer",
            "partner_id": so.partner_invoice_id.commercial_partner_id.id,
            "amount": float(n.payment.amount),
            "currency_id": so.currency_id.id,
            "journal_id": self._journal_for(run, order).id,
            "memo": " ".join(filter(None, [so.name, n.payment.transaction_id])),
        }

    def _step_send_emails(self, run, orders):
        if not run.channel.send_email:
            return orders
        todo = orders.filtered(lambda o: not o.email_sent)
        if not todo:
            return orders
        missing = todo.filtered(lambda o: not (o.invoice_id.partner_id or o.sale_order_id.partner_id).email)
        if missing:
            raise UserError(self.env._("The customer has no e-mail address."))
        invoices = todo.invoice_id.filtered(lambda m: m.state == "posted")
        if invoices:
            # The PDF only: a shop's customer has no use for an e-invoice format (UBL…),
            # which would also stop the sending for want of a VAT number. Errors raise, so
            # the order stops at this step rather than being marked e-mailed.
            self.env["account.move.send"]._generate_and_send_invoices(
                invoices, sending_methods=["email"], invoice_edi_format=None
            )
        for order in todo.filtered(lambda o: o.invoice_id.state != "posted"):
            so = order.sale_order_id
            template = (
                so._get_confirmation_template() if so.state == "sale"
                else self.env.ref("sale.email_template_edi_sale")
            )
            # From the salesperson (else the company), not from whoever pressed Retry: the
            # customer answers the salesperson, and a user without an e-mail address could
            # not send at all.
            author = so.user_id.partner_id if so.user_id.partner_id.email else so.company_id.partner_id
            so.message_post_with_source(template, subtype_xmlid="mail.mt_comment", author_id=author.id)
            if so.state == "draft":
                so.state = "sent"
        todo.write({"email_sent": True})
        for order in todo:
            run.notes[order.id].append(self.env._("e-mailed to %s", order.partner_id.email))
        return orders
