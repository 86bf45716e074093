"""The Channels overview: a card per channel with its light, what is to do, and its orders of
the last 14 days (the bar graph of Odoo's journal dashboard)."""
import json
from datetime import datetime, time, timedelta

import pytz

from odoo import fields, models
from odoo.tools import format_date

#: Days the overview's graph shows, today included.
GRAPH_DAYS = 14
#: The inbox states whose counts the overview's cards show (and open).
TODO_STATES = ("new", "needs_review", "error")


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    dashboard_graph = fields.Text(
        compute="_compute_dashboard_graph",
        help="Orders received per day over the last 14 days (JSON for the dashboard graph).")

    def _graph_days(self):
        """The days of the graph, oldest first, in the user's time zone, and the UTC moment
        the first one starts."""
        tz_name = self.env.context.get("tz") or self.env.user.tz or "UTC"
        tz = pytz.timezone(tz_name) if tz_name in pytz.all_timezones_set else pytz.utc
        today = datetime.now(pytz.utc).astimezone(tz).date()
        days = [today - timedelta(days=back) for back in range(GRAPH_DAYS - 1, -1, -1)]
        start = tz.localize(datetime.combine(days[0], time.min)).astimezone(pytz.utc).replace(tzinfo=None)
        return days, start, tz.zone

    def _compute_dashboard_graph(self):
        """One grouped query for all the channels: orders per channel and day."""
        days, start, tz_name = self._graph_days()
        ids = [channel_id for channel_id in self.ids if isinstance(channel_id, int)]
        per_day = {}
        if ids:
            groups = self.env["sale.inbox.order"].with_context(tz=tz_name)._read_group(
                [("channel_id", "in", ids), ("received_at", ">=", start)],
                ["channel_id", "received_at:day"], ["__count"])
            per_day = {(channel.id, day.date()): count for channel, day, count in groups if day}
        labels = [format_date(self.env, day, date_format="d MMM") for day in days]
        key = self.env._("Orders")
        for channel in self:
            values = [{"label": label, "value": per_day.get((channel.id, day), 0), "type": "past"}
                      for day, label in zip(days, labels, strict=True)]
            channel.dashboard_graph = json.dumps([{"values": values, "title": "", "key": key,
                                                   "is_sample_data": False}])

    def action_open_inbox_state(self):
        """The channel's inbox orders in the state the card's count is for (the context's
        ``inbox_state``)."""
        action = self.action_view_inbox()
        state = self.env.context.get("inbox_state")
        if state in TODO_STATES:
            action["domain"] = [("channel_id", "=", self.id), ("state", "=", state)]
            action["context"] = {"default_channel_id": self.id}
        return action
