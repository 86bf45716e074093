"""Who hears of what happens on a channel: notification rules, one per target (a Discuss
channel, e-mail, a Telegram chat), each choosing its events.

Events are queued as ``sale.inbox.notice`` rows in the transaction of the event and sent by a
job (``models/sale_inbox_notice.py``), so that telling people never delays or breaks intake
or processing.
"""
import logging

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from .sale_channel import MANAGER, check_group_access

_logger = logging.getLogger(__name__)

#: Events a rule may choose: (code, label). A rule has a boolean ``on_<code>`` for each.
EVENTS = [
    ("new_order", "New order"),
    ("needs_review", "Order needs review"),
    ("error", "Order in error"),
    ("sync_failure", "Stock sync failed"),
    ("outbox_failure", "Status not sent to the store"),
    ("channel_failing", "Channel failing"),
]
TARGETS = [
    ("discuss", "Discuss Channel"),
    ("email", "E-mail"),
    ("telegram", "Telegram"),
]
#: Where the Bot API is for every rule that sets none (tests point it to a fake server).
TELEGRAM_URL_PARAM = "sale_inbox.telegram_api_url"


class SaleChannelNotifyRule(models.Model):
    _name = "sale.channel.notify.rule"
    _inherit = ["channel.owned.mixin"]
    _description = "Channel Notification Rule"
    _order = "channel_id, sequence, id"

    channel_id = fields.Many2one("sale.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    target = fields.Selection(TARGETS, required=True, default="discuss", string="Send To")

    on_new_order = fields.Boolean(string="New Order")
    on_needs_review = fields.Boolean(string="Needs Review", default=True)
    on_error = fields.Boolean(default=True)
    on_sync_failure = fields.Boolean(string="Sync Failure", default=True,
                                     help="A stock sync (or push) of the channel failed.")
    on_outbox_failure = fields.Boolean(string="Outbox Failure", default=True,
                                       help="The store did not take an order status (given up after retries, "
                                       "or refused).")
    on_channel_failing = fields.Boolean(string="Channel Failing", default=True,
                                        help="The channel's store calls started failing (it had no error before).")

    discuss_channel_id = fields.Many2one("discuss.channel")
    user_ids = fields.Many2many("res.users", string="Users", domain=[("share", "=", False)],
                                help="E-mailed at their own address.")
    email_to = fields.Char(string="Other Addresses", help="More addresses, separated by commas.")
    # The bot token lets anyone write as the bot: Sales Inbox managers only (as the store
    # credentials of the channel), enforced by the field's groups for reads and writes.
    telegram_token = fields.Char(string="Bot Token", groups=MANAGER, copy=False,
                                 help="The token BotFather gave the bot (123456789:AA…).")
    telegram_chat_id = fields.Char(string="Chat ID", help="The chat, group (negative id) or @channelusername "
                                   "the bot writes to. The chat must have written to the bot first (a group: add "
                                   "the bot to it).")
    telegram_api_url = fields.Char(string="Bot API URL", groups=MANAGER,
                                   help="Empty: api.telegram.org (or the system parameter "
                                   "sale_inbox.telegram_api_url). A local Bot API server's address otherwise.")

    notice_ids = fields.One2many("sale.inbox.notice", "rule_id", string="Notifications")
    failed_count = fields.Integer(compute="_compute_failed_count", string="Failed Notifications")

    @api.depends("target", "discuss_channel_id", "user_ids", "email_to", "telegram_chat_id")
    def _compute_display_name(self):
        labels = dict(self._fields["target"]._description_selection(self.env))
        for rule in self:
            where = {
                "discuss": rule.discuss_channel_id.display_name,
                "email": ", ".join(filter(None, rule.user_ids.mapped("name") + [rule.email_to or ""])),
                "telegram": rule.telegram_chat_id,
            }.get(rule.target) or ""
            rule.display_name = f"{labels.get(rule.target, '')}: {where}" if where else labels.get(rule.target, "")

    def _compute_failed_count(self):
        counts = dict(self.env["sale.inbox.notice"]._read_group(
            [("rule_id", "in", self.ids), ("state", "=", "failed")], ["rule_id"], ["__count"]))
        for rule in self:
            rule.failed_count = counts.get(rule, 0)

    @api.constrains("target", "discuss_channel_id", "user_ids", "email_to", "telegram_chat_id")
    def _check_target(self):
        for rule in self:
            if rule.target == "discuss" and not rule.discuss_channel_id:
                raise ValidationError(self.env._("Choose the Discuss channel the notifications go to."))
            if rule.target == "discuss" and not self.env.su:
                # Notices are posted by the job as superuser: a person names only a
                # conversation they can read themselves (not someone's private chat).
                rule.discuss_channel_id.check_access("read")
            if rule.target == "email" and not (rule.user_ids or (rule.email_to or "").strip()):
                raise ValidationError(self.env._("Choose the users, or write the addresses, the e-mails go to."))
            if rule.target == "telegram" and not (rule.telegram_chat_id or "").strip():
                raise ValidationError(self.env._("Set the Telegram chat id the bot writes to."))

    # ------------------------------------------------------------------
    # Which events anyone listens to: read once per process, not per order
    # ------------------------------------------------------------------

    @api.model
    @tools.ormcache()
    def _listened_events(self):
        """``frozenset`` of ``(channel id, event)`` some active rule wants. Intake and
        processing ask it for every event: without a rule, telling costs no query."""
        columns = SQL(", ").join(SQL.identifier(f"on_{code}") for code, _label in EVENTS)
        self.flush_model()
        # In a savepoint (once per process and change of the rules): a failure here must not
        # leave intake's or processing's transaction unusable.
        with self.env.cr.savepoint(flush=False):
            self.env.cr.execute(SQL("SELECT channel_id, %s FROM sale_channel_notify_rule WHERE active", columns))
            rows = self.env.cr.fetchall()
        pairs = set()
        for row in rows:
            pairs.update((row[0], code) for (code, _label), wanted in zip(EVENTS, row[1:], strict=True) if wanted)
        return frozenset(pairs)

    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        self.env.registry.clear_cache()
        return rules

    def write(self, vals):
        result = super().write(vals)
        if {"active", "channel_id"} & vals.keys() or any(key.startswith("on_") for key in vals):
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    # ------------------------------------------------------------------
    # Send Test Message
    # ------------------------------------------------------------------

    def action_send_test_message(self):
        """Send a message through this rule now and show what the target answered (managers:
        it uses the bot token)."""
        check_group_access(self, MANAGER, "write")
        self.ensure_one()
        rule = self.sudo()
        text = self.env._("Test message from the Sales Inbox: notifications of %(channel)s reach this place.",
                          channel=rule.channel_id.name)
        error = self.env["sale.inbox.notice"]._deliver_now(rule, self.env._("Sales Inbox: test message"), text)
        if error:
            return _notification(self.env._("Not sent: %s", error), "danger")
        answers = {
            "telegram": self.env._("Telegram accepted the message."),
            "discuss": self.env._("Posted in %s.", rule.discuss_channel_id.display_name),
            "email": self.env._("The e-mail is in the outgoing mail queue."),
        }
        return _notification(answers[rule.target], "success")


def _notification(message, kind):
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {"message": message, "type": kind, "sticky": kind == "danger"},
    }


class SaleChannel(models.Model):
    _inherit = "sale.channel"

    notify_rule_ids = fields.One2many("sale.channel.notify.rule", "channel_id", string="Notification Rules")
    notice_problem_ids = fields.One2many(
        "sale.inbox.notice", "channel_id", string="Notifications Not Sent",
        domain=["|", ("state", "=", "failed"), "&", ("state", "=", "pending"), ("last_error", "!=", False)])
    notice_problem_count = fields.Integer(compute="_compute_notice_problem_count")

    def _compute_notice_problem_count(self):
        counts = dict(self.env["sale.inbox.notice"]._read_group(
            [("channel_id", "in", self.ids), "|", ("state", "=", "failed"), "&", ("state", "=", "pending"),
             ("last_error", "!=", False)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.notice_problem_count = counts.get(channel, 0)

    def action_view_notices(self):
        check_group_access(self, MANAGER, "read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sale_inbox.sale_inbox_notice_action")
        action["domain"] = [("channel_id", "in", self.ids)]
        return action
