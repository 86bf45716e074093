"""Two channels may no longer share a webhook token (a unique constraint; people no longer
write it). Before it, a manager could give a channel another channel's token: each token
shared by several channels stays with the oldest of them, the others get new ones here, before
the ORM adds the constraint (which it would otherwise leave out, with a warning in the log).

The store of a channel given a new token still sends to the old address: the channel says so
in its last error, shown on its form, until its Webhook URL is given to the store."""
import logging
import secrets

_logger = logging.getLogger(__name__)

NOTE = ("The webhook address changed during the upgrade to 18.0.1.2.0: another channel had the same one. "
        "Give the store this channel's new Webhook URL (Register Webhook, or the store's admin).")


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        SELECT id FROM (
            SELECT id, row_number() OVER (PARTITION BY webhook_token ORDER BY id) AS rank
              FROM sale_channel
             WHERE webhook_token IS NOT NULL
        ) AS ranked
         WHERE rank > 1
        """
    )
    ids = [row[0] for row in cr.fetchall()]
    if not ids:
        return
    cr.execute(
        """
        UPDATE sale_channel AS c
           SET webhook_token = v.token, last_error = %s, last_error_date = now() at time zone 'UTC'
          FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS token) AS v
         WHERE c.id = v.id
        """,
        (NOTE, ids, [secrets.token_urlsafe(24) for _id in ids]),
    )
    _logger.warning("Sales Inbox: channels %s shared a webhook address with an older channel and were given "
                    "new ones; their stores must be given the new Webhook URL.", ids)
