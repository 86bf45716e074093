"""E-mail of the addon's records and of a channel's customers.

* The chatter of channels and inbox orders takes a note from a person without an e-mail
  address: the note is theirs (its author), sent from the company's address.
* The countries whose customers a channel e-mails (the invoice or order the processor sends,
  and Odoo's delivery confirmation with its tracking number)."""
from odoo import exceptions, fields, models


def compute_author(records, compute, author_id, email_from, raise_on_email):
    """Odoo refuses a chatter entry of a user without an e-mail address ("configure the
    sender's email address"), so that a person without one could not press a button that notes
    what they did (Accept Difference, New Key, New Webhook Address). Their entry keeps them as
    its author; only the sender address, which followers' notifications go out from, is the
    company's (or OdooBot's when the company has none). ``compute`` is Odoo's own computation
    (the ``super()`` of the model)."""
    author_id, email_from = compute(author_id, email_from, raise_on_email=False)
    if not email_from:
        email_from = (records.env.company.partner_id.email_formatted
                      or records.env.ref("base.partner_root").sudo().email_formatted)
    if not email_from and raise_on_email and not records.env.su:
        raise exceptions.UserError(records.env._(
            "Unable to send message, please configure the sender's email address."))
    return author_id, email_from


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    def _message_compute_author(self, author_id=None, email_from=None, raise_on_email=True):
        return compute_author(self, super()._message_compute_author, author_id, email_from, raise_on_email)


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    customer_email_country_ids = fields.Many2many(
        "res.country", "sale_channel_customer_email_country_rel", "channel_id", "country_id",
        string="E-mail Customers In",
        help="Customers of these countries only get e-mails for this channel's orders: the invoice "
        "or order (Send by Email) and the delivery confirmation with its tracking number (when "
        "Inventory's Email Confirmation is on). Empty: customers of every country.")

    def _message_compute_author(self, author_id=None, email_from=None, raise_on_email=True):
        return compute_author(self, super()._message_compute_author, author_id, email_from, raise_on_email)

    def _customer_country(self, partner):
        """The country an e-mail to ``partner`` is judged by: the address's own, else its
        company's (a contact of a company often has no country of its own)."""
        return partner.country_id or partner.commercial_partner_id.country_id

    def _customer_email_refusal(self, partner):
        """Why this channel does not e-mail ``partner`` (a sentence for the chatter), or
        False when it may."""
        self.ensure_one()
        countries = self.sudo().customer_email_country_ids
        if not countries:
            return False
        country = self._customer_country(partner)
        if country in countries:
            return False
        if not country:
            return self.env._("no e-mail sent: the customer's address has no country, and %(channel)s "
                              "e-mails customers in %(countries)s only",
                              channel=self.name, countries=", ".join(countries.mapped("name")))
        return self.env._("no e-mail sent: %(channel)s does not e-mail customers in %(country)s "
                          "(only in %(countries)s)",
                          channel=self.name, country=country.name, countries=", ".join(countries.mapped("name")))


class SaleInboxProcessor(models.AbstractModel):
    _inherit = "sale.inbox.processor"

    def _step_send_emails(self, run, orders):
        """Orders of customers in a country the channel does not e-mail go on without the
        e-mail; their processing note says why."""
        if not run.channel.send_email:
            return super()._step_send_emails(run, orders)
        held = orders.browse()
        for order in orders.filtered(lambda o: not o.email_sent):
            recipient = order.invoice_id.partner_id or order.sale_order_id.partner_id
            refusal = run.channel._customer_email_refusal(recipient)
            if refusal:
                run.notes[order.id].append(refusal)
                held |= order
        return super()._step_send_emails(run, orders - held) | held
