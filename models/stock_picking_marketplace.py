"""Deliveries of marketplace orders the merchant packs (Ozon FBS): telling the marketplace the
posting is assembled, and printing its package labels.

"Assembled" goes through the status outbox (``sale.channel.outbox``), as every status does:
written in the transaction that decides it, sent by the outbox job, retried while the store
does not answer, parked as refused when the store refuses (a posting needing data the seller
must give in the marketplace's account first), sent again by a person's Retry.

Labels are fetched when a person asks (Print Labels); a label the marketplace has not made
yet (Ozon: some 45 s after packing) is fetched again by a job and attached when it comes.
"""
import base64
import dataclasses
import io
import logging
import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import pdf as odoo_pdf

from ..platforms.http import ApiError
from .sale_channel import USER, check_group_access

_logger = logging.getLogger(__name__)

#: Wait before asking again for a label the marketplace has not made yet, in minutes, and
#: how many times it is asked before the delivery says so as an error.
LABEL_RETRY_MINUTES = 1
LABEL_MAX_ATTEMPTS = 30
#: Deliveries the label job takes per run.
LABEL_CLAIM = 200
#: Marks the merged PDFs made for a person to print (no record of their own): the label job
#: deletes those older than a day.
PRINT_FILE_MARK = "sale_inbox: labels to print"


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    send_assembled_on_validate = fields.Boolean(
        string="Send 'Assembled' When the Delivery Is Validated", default=True,
        help="Validating the delivery of a marketplace order you pack tells the marketplace it is "
        "assembled (once; the delivery's Mark Assembled in Store button does it before validation).")
    support_assembled = fields.Boolean(compute="_compute_support_assembled")

    @api.depends("platform")
    def _compute_support_assembled(self):
        for channel in self:
            channel.support_assembled = bool(channel.platform and channel._assembled_status())

    def _assembled_status(self):
        """The store status that says "assembled, ready for the carrier" ('' when the store has
        none Odoo may send)."""
        self.ensure_one()
        platform = self._platform()
        return getattr(platform, "assembled_status", "") if platform.can_send_status else ""


class StockPicking(models.Model):
    _inherit = "stock.picking"

    store_packs = fields.Boolean(
        compute="_compute_store_packs",
        help="A delivery of a marketplace order the merchant packs (FBS) whose store takes 'assembled'.")
    store_prints_labels = fields.Boolean(compute="_compute_store_packs")
    store_assembled_state = fields.Selection(
        [("none", "Not Sent"), ("pending", "Assembled: Sending"), ("sent", "Assembled Sent"),
         ("failed", "Assembled Refused"), ("cancelled", "Not Sent (Cancelled)")],
        string="Assembled in Store", compute="_compute_store_assembled",
        help="Whether the marketplace was told the order is assembled (through the status outbox).")
    store_assembled_message = fields.Text(
        string="Store's Answer", compute="_compute_store_assembled",
        help="What the store answered when it was told the order is assembled, or why it refused.")
    store_label_state = fields.Selection(
        [("none", "No Label"), ("pending", "Label Pending"), ("done", "Label Attached"), ("error", "Label Refused")],
        string="Store Label", default="none", readonly=True, copy=False,
        help="Label Pending: the marketplace has not made the label yet; Odoo asks again every minute "
        "and attaches it when it comes.")
    store_label_error = fields.Text(readonly=True, copy=False)
    store_label_attachment_id = fields.Many2one("ir.attachment", string="Store Label File", readonly=True,
                                                copy=False)
    store_label_next_try = fields.Datetime(readonly=True, copy=False, index="btree_not_null")
    store_label_attempts = fields.Integer(readonly=True, copy=False)

    # ------------------------------------------------------------------
    # Which deliveries
    # ------------------------------------------------------------------

    @api.depends("picking_type_code", "sale_id.channel_id", "sale_id.inbox_order_id", "state")
    def _compute_store_packs(self):
        # As superuser: a warehouse worker may see a delivery, not its channel or inbox order.
        postings = self.sudo().sale_id._store_posting_statuses()  # one query for all
        for picking in self:
            sudo = picking.sudo()
            channel = sudo.sale_id.channel_id
            packs = bool(picking.picking_type_code == "outgoing" and channel.is_marketplace
                         and postings.get(sudo.sale_id.id) and not sudo._store_fulfilled_by_marketplace())
            picking.store_packs = packs and channel.support_assembled
            picking.store_prints_labels = packs and channel.support_print_labels

    def _store_postings(self):
        """The store's ids of the order's live postings (Ozon: the posting numbers; several when
        the marketplace split the posting), [] when it has none."""
        self.ensure_one()
        return self.sale_id._store_postings() if self.sale_id else []

    def _store_fulfilled_by_marketplace(self):
        self.ensure_one()
        return bool(self.sale_id) and self.sale_id._sale_inbox_fulfilled_by_marketplace()

    def _store_assembled_messages(self):
        """The outbox messages telling the store this delivery's order is assembled."""
        self.ensure_one()
        order = self.sudo().sale_id
        status = order.channel_id._assembled_status() if order.channel_id else ""
        return order.outbox_ids.filtered(lambda m: status and m.store_status == status)

    @api.depends("sale_id.outbox_ids.state", "sale_id.outbox_ids.last_error", "sale_id.outbox_ids.result",
                 "sale_id.store_status")
    def _compute_store_assembled(self):
        postings = self.sudo().sale_id._store_posting_statuses()  # one query for all
        for picking in self:
            message = picking._store_assembled_shown(list(postings.get(picking.sale_id.id, {}))) \
                if picking.sale_id else None
            picking.store_assembled_state = message.state if message else "none"
            picking.store_assembled_message = (message.last_error if message.state in ("pending", "failed")
                                               else message.result) if message else False

    def _store_assembled_shown(self, postings):
        """The message that says where "assembled" stands for the whole order: the latest of
        each posting, the one that most needs a person first (refused, being sent, not sent
        at all, cancelled), a sent one only when every posting's is sent."""
        messages = self._store_assembled_messages().sorted("id")
        latest = [messages.filtered(lambda m, n=number: m.external_id == n)[-1:] for number in postings]
        if not postings:
            return messages[-1:]
        if not all(latest):
            return None
        for state in ("failed", "pending", "cancelled"):
            found = [message for message in latest if message.state == state]
            if found:
                return found[0]
        return latest[-1]

    # ------------------------------------------------------------------
    # Assembled
    # ------------------------------------------------------------------

    def action_store_assembled(self):
        """Mark Assembled in Store: tell the marketplace these orders are assembled (once)."""
        check_group_access(self, USER, "read")
        self.sale_id.channel_id._check_inbox_user()
        pickings = self.filtered("store_packs")
        if not pickings:
            raise UserError(self.env._("None of these deliveries is of a marketplace order you pack."))
        queued, _known = pickings.sudo()._queue_store_assembled(retry_refused=True)
        if queued:
            message = self.env._("%(count)s order(s) will be told they are assembled in a moment.", count=queued)
        else:
            message = self.env._("The store was told already (or is being told): see the delivery.")
        return self.env["sale.channel"]._notify(message, "success" if queued else "info")

    def _queue_store_assembled(self, retry_refused=False):
        """Put "assembled" in the outbox for these deliveries' orders, once per posting of the
        order (a message for it pending or sent already is enough; a refused one, or one a
        manager chose not to send, is sent again when a person asks, ``retry_refused``).
        Returns (orders queued, orders there already). As superuser."""
        queued = known = 0
        values = []
        orders = self.filtered("store_packs").sale_id
        if orders:
            # Two people (or a person and a validation) at once: the second waits for the
            # first and then sees its message, rather than queueing another.
            self.env.cr.execute("SELECT id FROM sale_order WHERE id IN %s FOR UPDATE", (tuple(orders.ids),))
        postings = orders._store_posting_statuses()
        for order in orders:
            channel = order.channel_id
            status = channel._assembled_status()
            messages = order.outbox_ids.filtered(lambda m, s=status: m.store_status == s)
            told = False
            for number, posting_status in postings[order.id].items():
                mine = messages.filtered(lambda m, n=number: m.external_id == n)
                if self._store_assembled_known(channel, mine, posting_status, status, retry_refused):
                    refused = mine.filtered(lambda m: m.state == "failed")
                    if retry_refused and refused and not mine.filtered(lambda m: m.state in ("pending", "sent")):
                        # The person filled in what the store wanted: the same message, again.
                        refused[-1:].write({"state": "pending", "next_attempt_at": fields.Datetime.now()})
                        told = True
                    continue
                values.append({"channel_id": channel.id, "sale_order_id": order.id,
                               "external_id": number, "store_status": status})
                if number == order.inbox_order_id.external_id:
                    # Said to the store now: the status mapping will not send it a second time.
                    order.write({"store_status": status})
                told = True
            if told:
                queued += 1
            else:
                known += 1
        if values:
            self.env["sale.channel.outbox"].create(values)
        if queued:
            self.env["sale.inbox.job"]._trigger_job("sale_inbox.ir_cron_send_outbox")
        return queued, known

    @api.model
    def _store_assembled_known(self, channel, messages, posting_status, status, retry_refused):
        """Whether the store knows (or is being told) that this posting is assembled:
        ``messages``, the posting's "assembled" messages, or its status in the store."""
        if messages.filtered(lambda m: m.state != "cancelled"):
            return True
        if not posting_status:
            return False
        if retry_refused and messages and posting_status == status:
            # The status was written when "assembled" was queued, and a manager then chose
            # not to send it: the store never heard it, and a person now asks to tell it.
            return False
        platform = channel._platform()
        return platform.status_rank(posting_status) >= platform.status_rank(status)

    def _store_assembled_on_validate(self):
        """The deliveries just validated whose order is now fully delivered, of channels that
        send "assembled" on validation."""
        done = self.sudo().filtered(lambda p: p.store_packs and p.sale_id.channel_id.send_assembled_on_validate
                                    and p.sale_id.delivery_status == "full")
        if done:
            done._queue_store_assembled()

    # ------------------------------------------------------------------
    # Labels
    # ------------------------------------------------------------------

    def action_print_store_labels(self):
        """Print Labels: the marketplace's package labels of these deliveries, each attached to
        its delivery, all in one PDF to print."""
        check_group_access(self, USER, "read")
        self.sale_id.channel_id._check_inbox_user()
        labelled = self.filtered("store_prints_labels")
        # A cancelled delivery or order ships nothing: its label, even one printed before,
        # must not end up on a parcel.
        pickings = labelled.filtered(lambda p: p.state != "cancel" and p.sale_id.state != "cancel")
        if not pickings:
            raise UserError(self.env._("None of these deliveries has a marketplace label to print%s.",
                                       self.env._(" (the cancelled ones have none)") if labelled else ""))
        files = pickings.sudo()._fetch_store_labels()
        return self._store_labels_answer(pickings, files, skipped=self - pickings)

    def _fetch_store_labels(self):
        """Fetch and attach the labels of these deliveries, channel by channel (as superuser);
        returns the PDFs to print, in order, each once. An error of a whole channel (no
        answer, credentials) is raised for a person, and recorded by the job."""
        files = []
        for channel in self.sale_id.channel_id:
            pickings = self.filtered(lambda p, c=channel: p.sale_id.channel_id == c)
            files += pickings._fetch_channel_labels(channel)
        return files

    def _fetch_channel_labels(self, channel):
        # A label attached before is printed again from the delivery, not asked again.
        numbers = {picking: picking._store_postings() for picking in self if not picking.store_label_attachment_id}
        labels = {}
        if numbers:
            try:
                labels = _posting_labels(channel._api_client(), [n for ns in numbers.values() for n in ns])
            except ApiError as exc:
                raise UserError(self.env._("%(channel)s did not give the labels: %(error)s",
                                           channel=channel.name, error=exc)) from exc
        files = []
        for picking in self:
            if picking in numbers:
                own = picking._store_take_labels(labels, numbers[picking])
            else:
                own = picking.store_label_attachment_id.raw
            if own and own not in files:
                files.append(own)
        return files

    def _store_take_labels(self, labels, numbers):
        """Record the answers for the delivery's postings (``labels``: {posting: PackageLabel},
        each PDF that posting's own pages); returns the PDF to print (b"" if none). The
        delivery's label is attached once every posting's has come."""
        self.ensure_one()
        if not numbers:
            self._store_label_failed(self.env._("The order has no posting left to label (split or cancelled)."))
            return b""
        errors = []
        for number in numbers:
            label = labels.get(number)
            if label is None or label.error:
                error = label.error if label else self.env._("The store did not answer for %s.", number)
                # Named by posting where the delivery has several.
                errors.append(f"{number}: {error}" if label and len(numbers) > 1 else error)
        if errors:
            self._store_label_failed("\n".join(errors))
            return b""
        if any(labels[number].not_ready for number in numbers):
            attempts = self.store_label_attempts + 1
            if attempts >= LABEL_MAX_ATTEMPTS:
                self.write({"store_label_state": "error", "store_label_attempts": attempts,
                            "store_label_next_try": False, "store_label_error": self.env._(
                                "The store had not made the label after %s tries: print it again later.",
                                attempts)})
                return b""
            self.write({"store_label_state": "pending", "store_label_attempts": attempts, "store_label_error": False,
                        "store_label_next_try": fields.Datetime.now() + timedelta(minutes=LABEL_RETRY_MINUTES)})
            return b""
        pdfs = [labels[number].pdf for number in numbers]
        pdf = odoo_pdf.merge_pdf(pdfs) if len(pdfs) > 1 else pdfs[0]
        self._attach_store_label(pdf, ", ".join(numbers))
        return pdf

    def _attach_store_label(self, pdf, number):
        self.ensure_one()
        attachment = self.env["ir.attachment"].create({
            "name": f"{self.sale_id.channel_id._platform().label} label {number}.pdf",
            "res_model": "stock.picking", "res_id": self.id, "type": "binary",
            "datas": base64.b64encode(pdf), "mimetype": "application/pdf"})
        self.write({"store_label_state": "done", "store_label_attachment_id": attachment.id,
                    "store_label_error": False, "store_label_next_try": False, "store_label_attempts": 0})
        self._message_log(body=self.env._("Store label attached (%s).", number))

    def _store_labels_answer(self, pickings, files, skipped=None):
        """One PDF of the labels to print (a download), and what is missing said beside it
        (``skipped``: the deliveries asked for that have no label to print)."""
        pickings.invalidate_recordset(["store_label_state", "store_label_error"])
        refused = pickings.filtered(lambda p: p.store_label_state == "error")
        pending = pickings.filtered(lambda p: p.store_label_state == "pending")
        notes = []
        if skipped:
            notes.append(self.env._("No label for %s: cancelled, or not shipped by you for a marketplace.",
                                    ", ".join(skipped.mapped("name"))))
        if pending:
            notes.append(self.env._("Not made by the store yet: %s. Odoo asks the store again every minute "
                                    "and attaches each label to its delivery when it comes.",
                                    ", ".join(pending.mapped("name"))))
        for picking in refused:
            notes.append(self.env._("%(delivery)s (%(posting)s): %(error)s", delivery=picking.name,
                                    posting=", ".join(picking.sudo()._store_postings()),
                                    error=picking.store_label_error))
        download = None
        if files:
            merged = odoo_pdf.merge_pdf(files) if len(files) > 1 else files[0]
            # The person's own file (no record): only they and administrators can read it.
            attachment = self.env["ir.attachment"].create({
                "name": "Store labels.pdf", "type": "binary", "datas": base64.b64encode(merged),
                "mimetype": "application/pdf", "description": PRINT_FILE_MARK})
            download = {"type": "ir.actions.act_url", "url": f"/web/content/{attachment.id}?download=true",
                        "target": "self"}
        if not notes:
            return download
        return {"type": "ir.actions.client", "tag": "display_notification",
                "params": {"message": "\n".join(notes), "type": "danger" if refused else "warning",
                           "sticky": bool(refused), "next": download or {"type": "ir.actions.act_window_close"}}}

    @api.model
    def _cron_retry_store_labels(self):
        """Ask again for the labels the store had not made: each channel's request, and each
        delivery's label, a unit of its own (one failing holds up nothing else)."""
        Job = self.env["sale.inbox.job"]
        pickings = self.search([("store_label_state", "=", "pending"),
                                ("store_label_next_try", "<=", fields.Datetime.now())],
                               order="store_label_next_try, id", limit=LABEL_CLAIM)
        for channel in pickings.sale_id.channel_id:
            mine = pickings.filtered(lambda p, c=channel: p.sale_id.channel_id == c)
            Job._run_isolated(channel, "store labels", mine._retry_channel_labels, channel,
                              on_error=mine._postpone_store_label)
            if Job._commit_allowed():
                # This channel's labels are attached and its deliveries updated: kept, whatever
                # the next channel does (each delivery's state is final for this run).
                self.env.cr.commit()  # pylint: disable=invalid-commit
        self._delete_old_print_files()
        return len(pickings)

    @api.model
    def _delete_old_print_files(self):
        """The merged PDFs people downloaded (each delivery keeps its own label)."""
        self.env["ir.attachment"].sudo().search([
            ("description", "=", PRINT_FILE_MARK), ("res_model", "=", False),
            ("create_date", "<", fields.Datetime.now() - timedelta(days=1))]).unlink()

    def _retry_channel_labels(self, channel):
        numbers = {picking: picking._store_postings() for picking in self}
        labels = _posting_labels(channel._api_client(), [n for ns in numbers.values() for n in ns])
        Job = self.env["sale.inbox.job"]
        for picking, mine in numbers.items():
            Job._run_isolated(picking, "store label", picking._store_take_labels, labels, mine,
                              on_error=picking._store_label_failed)

    def _store_label_failed(self, error):
        """An unexpected error with this delivery's label: said on the delivery, where Print
        Labels asks again."""
        self.write({"store_label_state": "error", "store_label_error": error, "store_label_next_try": False})

    def _postpone_store_label(self, error):
        """The store did not answer: ask again later (not an error of the deliveries yet)."""
        for picking in self:
            attempts = picking.store_label_attempts + 1
            if attempts >= LABEL_MAX_ATTEMPTS:
                picking._store_label_failed(error)
                continue
            picking.write({"store_label_attempts": attempts, "store_label_error": error,
                           "store_label_next_try": fields.Datetime.now()
                           + timedelta(minutes=LABEL_RETRY_MINUTES * 2 ** min(attempts, 6))})


def _posting_labels(client, numbers):
    """{posting: PackageLabel} of these postings, each PDF holding only that posting's labels.

    The store answers a request of several postings with one PDF: each posting's pages are
    taken out of it where every page names its posting; where they cannot be told apart
    (another layout), those postings are asked again one per request, so that no delivery
    gets another one's labels."""
    labels = client.package_labels(numbers)
    again = []
    for number, label in labels.items():
        if label.pdf and len(label.batch) > 1:
            pages = _posting_pages(label.pdf, number, label.batch)
            if pages:
                labels[number] = dataclasses.replace(label, pdf=pages, batch=(number,))
            else:
                again.append(number)
    for number in again:
        labels.update(client.package_labels([number]))
    return labels


def _posting_pages(pdf, number, batch):
    """The pages of ``pdf`` that are ``number``'s labels, when the PDF holds several postings'
    labels and each page names one posting (b"" when they cannot be told apart)."""
    if len(batch) <= 1:
        return b""
    try:
        reader = odoo_pdf.PdfFileReader(io.BytesIO(pdf), strict=False)
        owners = []
        for page in reader.pages:
            words = set(re.findall(r"[\w-]+", page.extract_text() or ""))
            named = [n for n in batch if n in words]
            if len(named) != 1:
                return b""
            owners.append(named[0])
        if number not in owners:
            return b""
        writer = odoo_pdf.PdfFileWriter()
        for page, owner in zip(reader.pages, owners, strict=True):
            if owner == number:
                writer.add_page(page)
        with io.BytesIO() as buffer:
            writer.write(buffer)
            return buffer.getvalue()
    except Exception as exc:  # noqa: BLE001 - a PDF we cannot read: its postings are asked one by one
        _logger.warning("A store label PDF could not be split by posting (%s): asked again per posting",
                        type(exc).__name__)
        return b""
