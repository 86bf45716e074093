"""The inbox as a to-do list and as a report: kanban columns in workflow order, a colour per
state, and the measures of the graph and pivot views.

The measures (hours from receipt to done, error and review rates) are not stored: they are
SQL expressions over columns the order has anyway (_read_group_select), the way Odoo's own
purchase report computes its weighted averages. So intake (one SQL statement) and processing
pay nothing for them, they cannot go stale when a statement writes the state without the
ORM, and an average counts only the orders it is about (a stored float cannot be NULL: the
orders not done yet would count as 0 hours).
"""

from odoo import api, fields, models
from odoo.models import READ_GROUP_AGGREGATE
from odoo.tools import SQL

#: The kanban's columns, in the order a person works through them. "Processing" is not one:
#: no code writes it (processing happens inside one transaction, from New to its outcome); an
#: order found in it all the same still shows, in a column of its own after these.
KANBAN_STATES = ("new", "waiting_payment", "needs_review", "error", "done", "cancelled")
#: Columns folded by default: what needs nobody any more.
FOLDED_STATES = ("done", "cancelled")
#: What is still to do (the default filter of the inbox, see the search view's "todo").
TODO_STATES = ("new", "waiting_payment", "needs_review", "error")
#: The card's left border per state (Odoo's colour indexes: 1 red, 2 orange, 3 yellow,
#: 4 light blue, 7 blue, 10 green; 0 none).
STATE_COLORS = {
    "new": 4,
    "waiting_payment": 3,
    "processing": 7,
    "needs_review": 2,
    "error": 1,
    "done": 10,
    "cancelled": 0,
}


class SaleInboxOrder(models.Model):
    _inherit = "sale.inbox.order"

    state = fields.Selection(group_expand="_group_expand_states")
    kanban_color = fields.Integer(compute="_compute_kanban_color")
    hours_to_done = fields.Float(
        string="Hours to Done", compute="_compute_report_measures", aggregator="avg", digits=(16, 2),
        help="Hours from the order's receipt to the end of its processing; only orders done count.")
    error_rate = fields.Float(
        string="In Error (%)", compute="_compute_report_measures", aggregator="avg", digits=(16, 2),
        help="Share of the orders that are in error now.")
    review_rate = fields.Float(
        string="Needs Review (%)", compute="_compute_report_measures", aggregator="avg", digits=(16, 2),
        help="Share of the orders waiting for a person's review now.")

    @api.model
    def _group_expand_states(self, states, domain):
        return [state for state in KANBAN_STATES if state in dict(self._fields["state"].selection)]

    @api.model
    def _web_read_group(self, domain, fields, groupby, limit=None, offset=0, orderby=False, lazy=True):
        # Done and Cancelled folded: a column of a selection has no "folded" flag of its own
        # (as a stage has), so the web client is given it with the groups.
        groups = super()._web_read_group(domain, fields, groupby, limit=limit, offset=offset,
                                         orderby=orderby, lazy=lazy)
        if groupby and (groupby[0] if isinstance(groupby, (list, tuple)) else groupby) == "state":
            for group in groups:
                group["__fold"] = group.get("state") in FOLDED_STATES
        return groups

    @api.depends("state")
    def _compute_kanban_color(self):
        for order in self:
            order.kanban_color = STATE_COLORS.get(order.state, 0)

    @api.depends("state", "received_at", "processed_at")
    def _compute_report_measures(self):
        for order in self:
            done = order.state == "done" and order.processed_at and order.received_at
            order.hours_to_done = (order.processed_at - order.received_at).total_seconds() / 3600 if done else 0.0
            order.error_rate = 100.0 if order.state == "error" else 0.0
            order.review_rate = 100.0 if order.state == "needs_review" else 0.0

    def _read_group_select(self, aggregate_spec, query):
        fname, _sep, func = aggregate_spec.partition(":")
        if fname not in ("hours_to_done", "error_rate", "review_rate") or func not in READ_GROUP_AGGREGATE:
            return super()._read_group_select(aggregate_spec, query)
        state = self._field_to_sql(self._table, "state", query)
        if fname == "hours_to_done":
            # NULL for the orders not done: AVG, MIN and MAX leave them out.
            expression = SQL(
                "CASE WHEN %(state)s = 'done' THEN EXTRACT(EPOCH FROM %(done)s - %(received)s)::float8 / 3600 END",
                state=state,
                done=self._field_to_sql(self._table, "processed_at", query),
                received=self._field_to_sql(self._table, "received_at", query),
            )
        else:
            measured = "error" if fname == "error_rate" else "needs_review"
            expression = SQL("(CASE WHEN %s = %s THEN 100.0 ELSE 0.0 END)::float8", state, measured)
        return READ_GROUP_AGGREGATE[func](self._table, expression)
