from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.sale_channel import MANAGER, check_group_access
from ..models.sale_inbox_job import job_error_text
from ..platforms.http import ApiError


class SaleChannelImport(models.TransientModel):
    """Import orders placed before the channel was connected (or that webhooks missed)."""

    _name = "sale.channel.import"
    _inherit = ["channel.owned.mixin"]
    _description = "Import Orders from a Store"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade")
    days = fields.Integer(
        string="Last Days", default=7, required=True,
        help="Orders changed in the store during these last days are imported. Orders already "
        "in the inbox are recognised, never duplicated.",
    )

    @api.constrains("days")
    def _check_days(self):
        if any(wizard.days < 1 for wizard in self):
            raise UserError(self.env._("Import at least one day."))

    def action_import(self):
        # Managers of the channel only: the import calls the store with its credentials.
        check_group_access(self, MANAGER, "write")
        self.channel_id._check_manager()
        self.ensure_one()
        channel = self.channel_id
        since = fields.Datetime.now() - timedelta(days=self.days)
        # The import runs in this request, page after page: each page is announced at once.
        channel._publish_progress("import", "running", own_cursor=True)
        try:
            counts, _newest = channel._import_orders(since, progress=self._announce_page)
        except Exception as exc:
            channel._publish_progress("import", "failed", message=job_error_text(exc), own_cursor=True)
            if isinstance(exc, ApiError):
                raise UserError(self.env._("The store refused the import: %s", exc)) from exc
            raise
        if counts["created"]:
            self.env.ref("sale_inbox.ir_cron_process_inbox").sudo()._trigger()
        message = self.env._(
            "%(created)s new orders imported, %(known)s already in the inbox, %(unreadable)s "
            "unreadable (kept in error).", **counts)
        # Sent with this request's own commit: the orders it announces are stored by then.
        channel._publish_progress("import", "done", message=message)
        return channel._notify(message, "success")

    def _announce_page(self, pages, counts):
        self.channel_id._publish_progress("import", "running", pages, 0, self.env._(
            "%(pages)s pages read: %(created)s new orders, %(known)s already in the inbox.",
            pages=pages, **counts), own_cursor=True)
