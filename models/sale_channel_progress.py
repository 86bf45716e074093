"""Live progress of a channel's long actions (Sync Now, Reconcile Stock, Import Orders),
sent to the browsers through Odoo's bus and shown on the channel's form as it moves."""
import re

from odoo import models

from .sale_channel import USER

#: The messages go to this subchannel of the channel's own bus channel. A browser asks for
#: ``sale_inbox_progress:<channel id>``; it is given the subchannel only when its user may
#: read that channel (a string channel alone could be joined by anyone who guesses it).
PROGRESS_SUBCHANNEL = "sale_inbox_progress"
PROGRESS_TYPE = "sale_inbox/progress"
_PROGRESS_REQUEST = re.compile(r"sale_inbox_progress:(\d+)")


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    def _publish_progress(self, kind, state, done=0, total=0, message=False, own_cursor=False):
        """Tell the browsers showing this channel how far a long action is, through the bus.

        ``kind``: sync, reconcile or import; ``state``: queued, running, done or failed;
        ``done``/``total``: batches or pages (``total`` 0 when unknown). At most one message
        a batch or page. The bus sends a message when its transaction commits: a job that
        commits as it goes (the sync cron) publishes in its own transaction; an action that
        runs in one long request (Reconcile, Import Orders) passes ``own_cursor``, so that
        each message is committed, and seen, at once, whatever becomes of the request."""
        self.ensure_one()
        payload = {"channel_id": self.id, "kind": kind, "state": state, "done": done, "total": total,
                   "message": message or False}
        if own_cursor and self._commit_allowed():
            # A progress message is no part of the work: committed apart, it says nothing the
            # work's own transaction could later have to take back (a rollback loses the
            # figures it announced, and the final message says so).
            with self.env.registry.cursor() as cr:
                self.env(cr=cr)["bus.bus"]._sendone((self, PROGRESS_SUBCHANNEL), PROGRESS_TYPE, payload)
        else:
            self.env["bus.bus"]._sendone((self, PROGRESS_SUBCHANNEL), PROGRESS_TYPE, payload)


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        channels = list(channels) + self._sale_inbox_progress_channels(channels)
        return super()._build_bus_channel_list(channels)

    def _sale_inbox_progress_channels(self, requested):
        """The progress subchannels of the channels asked for that this user may read: an
        inbox user's, on channels of their companies; nothing for anyone else."""
        ids = {int(match[1]) for name in requested if isinstance(name, str)
               for match in [_PROGRESS_REQUEST.fullmatch(name)] if match}
        if not ids or not self.env.uid or self.env.user._is_public() or not self.env.user.has_group(USER):
            return []
        # search, not browse: the record rules leave out the channels of other companies.
        channels = self.env["sale.channel"].with_context(active_test=False).search([("id", "in", list(ids))])
        return [(channel, PROGRESS_SUBCHANNEL) for channel in channels]
