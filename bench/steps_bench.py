"""Where a processing batch spends its time, step by step; prints figures, asserts nothing.

    steps_bench.py --config C --db D [-n 100] [--batch-size 25]

Receives N new orders on the bench channel (``inbox_bench.py setup``; customers as in
``servers_bench.py``), processes them with the cron's own loop in this process, and prints
each step's share of the time. The steps from posting the invoices to the commit run while
the batch holds the next numbers of the sales and bank journals: another runner posting in
the same journals waits for that commit, so that share bounds what a second runner can add.
"""
import argparse
import collections
import json
import sys
import time
import uuid

from inbox_bench import odoo_env
from servers_bench import bench_order

#: The steps that run while the batch holds the journals' next numbers (until its commit).
HOLDING = ("_step_post_invoices", "_step_add_payments", "_step_send_emails", "_step_finish", "commit")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=25)
    args = parser.parse_args(argv)

    from odoo import SUPERUSER_ID, api

    registry = odoo_env(args)
    spent = collections.Counter()
    processor_class = registry["sale.inbox.processor"]

    def timed(name, func):
        def wrapper(*a, **kw):
            began = time.perf_counter()
            try:
                return func(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - began
        return wrapper

    run_step = processor_class._run_step

    def timed_step(self, run, step, func, orders):
        return timed(func.__name__, run_step)(self, run, step, func, orders)

    processor_class._run_step = timed_step
    for name in ("_step_finish", "_apply_deliveries"):
        setattr(processor_class, name, timed(name, getattr(processor_class, name)))

    tag = uuid.uuid4().hex[:8]
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        Inbox = env["sale.inbox.order"]
        channel = env["sale.channel"].search([("name", "=", "Bench shop")], limit=1)
        for index in range(args.n):
            Inbox._receive(channel, json.dumps(bench_order(index, tag)).encode(), "application/json")
        cr.commit()
        commit = cr.commit

        def timed_commit():
            began = time.perf_counter()
            commit()
            spent["commit"] += time.perf_counter() - began

        cr.commit = timed_commit
        began = time.perf_counter()
        done = Inbox._cron_process(batch_size=args.batch_size, time_budget=3600)
        total = time.perf_counter() - began
        cr.commit = commit
    print(f"steps         {done} orders in batches of {args.batch_size}: {total:.1f} s, "
          f"{total / max(done, 1) * 1000:.0f} ms per order")
    for name, seconds in spent.most_common():
        if seconds >= 0.005 * total:
            print(f"  {name:<22} {seconds:7.2f} s  {seconds / total:5.1%}")
    holding = sum(spent[name] for name in HOLDING)
    print(f"  from posting to commit (journal numbers held): {holding / total:.0%} of the time; "
          f"two runners can at best overlap the other {1 - holding / total:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
