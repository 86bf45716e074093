"""Several Odoo servers on one database: how long N Connect orders take to be processed.

    servers_bench.py --config C --db D --odoo-bin B --servers 1,2 [-n 300] [--cron-threads 1]

For each server count in ``--servers`` (run back to back, ``--repeat`` times), it starts that
many Odoo servers on the same database (each ``--workers=2 --max-cron-threads=K``, on its own
HTTP and gevent ports), posts N new Connect orders spread over the servers (8 clients, order
i to server i mod S; customers drawn at random from 500, so that a quarter of the orders
are of a customer seen earlier in the run, in the same batch or another), waits until every
order of the run has left the queue (polling the database), and prints: seconds from the
first post to the last order done, orders/s, orders done exactly once (one sales order per
inbox order and one invoice per sales order), the lock waits seen by sampling
``pg_stat_activity`` every 0.1 s (the waiting statement, and the one holding the lock), and
what the servers' logs say about retries, serialization failures and killed workers.

The database must hold the bench channel (``inbox_bench.py setup``). Every server started is
stopped, whatever happens; a run that does not finish within ``--timeout`` seconds is
reported as such.
"""
import argparse
import atexit
import collections
import configparser
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inbox_bench import API_KEY, PATH, order

#: Customers the orders are drawn from: 300 orders from 500 customers come from about 225
#: customers, a quarter of the orders from one who ordered earlier in the run.
CUSTOMERS = 500

CLIENTS = 8
TERMINAL = ("done", "error", "needs_review", "cancelled")
SAMPLE_INTERVAL = 0.1

# What the servers' logs may say about concurrency; counted per run.
LOG_PATTERNS = {
    "serialization failures": re.compile(r"could not serialize|SerializationFailure", re.IGNORECASE),
    "deadlocks": re.compile(r"deadlock detected", re.IGNORECASE),
    "lock not available": re.compile(r"LockNotAvailable|could not obtain lock", re.IGNORECASE),
    "unique violations": re.compile(r"UniqueViolation|duplicate key value", re.IGNORECASE),
    "cron job failures": re.compile(r"Exception in cron|Call from cron .* failed|Job .* failed", re.IGNORECASE),
    "worker timeouts/kills": re.compile(r"timeout after|timed out|CPU time limit|virtual memory limit", re.IGNORECASE),
    "stopped orders": re.compile(r"Sales Inbox order .* stopped at", re.IGNORECASE),
}
PROCESSED = re.compile(r"Sales Inbox: (\d+) orders processed by the cron")


# ----------------------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------------------

class Servers:
    """Odoo servers started by this script, each in its own process group; all stopped at
    exit, on a signal, or when the run is over."""

    def __init__(self):
        self.procs = []
        atexit.register(self.stop)

    def start(self, args, http_port, gevent_port, log_path):
        cmd = [
            sys.executable, args.odoo_bin, "-c", args.config, "-d", args.db,
            f"--http-port={http_port}", f"--gevent-port={gevent_port}",
            f"--workers={args.workers}", f"--max-cron-threads={args.cron_threads}",
            f"--logfile={log_path}", "--log-level=info",
            # Odoo's defaults, written out: a cron worker that works longer than this (real or
            # CPU seconds) is killed; a merchant's server has the same limits.
            f"--limit-time-real={args.limit_time_real}", f"--limit-time-cpu={args.limit_time_cpu}",
        ]
        env = dict(os.environ)
        if args.server_pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.server_pythonpath, env.get("PYTHONPATH")]))
        # What a worker that dies before logging anything says (the gevent worker's import
        # errors) goes to the server's log too.
        log = open(log_path, "ab")  # noqa: SIM115 -- the server writes to it until it stops
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # the master stops its workers gracefully
        deadline = time.monotonic() + 20
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Workers the master left behind share its process group (started by us).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


def children_cpu(procs):
    """CPU seconds of the servers' workers that ended (reaped by their master)."""
    total = 0
    for proc in procs:
        try:
            with open(f"/proc/{proc.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def listening(port):
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_healthy(urls, timeout=120):
    import requests

    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if requests.get(url + "/web/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer /web/health within {timeout} s")
            time.sleep(0.3)


def post_orders(urls, bodies):
    """Post the bodies with CLIENTS threads, body i to server i mod len(urls)."""
    import requests

    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    queue = collections.deque(enumerate(bodies))
    lock = threading.Lock()
    statuses = collections.Counter()

    def client():
        sessions = [requests.Session() for _ in urls]
        while True:
            with lock:
                if not queue:
                    return
                index, body = queue.popleft()
            server = index % len(urls)
            try:
                status = sessions[server].post(urls[server] + PATH, data=body, headers=headers,
                                               timeout=60).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


# ----------------------------------------------------------------------------------------
# Database
# ----------------------------------------------------------------------------------------

def connect(args):
    import psycopg2

    parser = configparser.ConfigParser()
    parser.read(args.config)
    options = parser["options"]
    kwargs = {"dbname": args.db}
    for key, name in (("db_host", "host"), ("db_port", "port"), ("db_user", "user"),
                      ("db_password", "password")):
        value = options.get(key)
        if value and value != "False":
            kwargs[name] = value
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    return conn


def channel_id(conn):
    with conn.cursor() as cr:
        cr.execute("SELECT id FROM sale_channel WHERE api_key = %s", (API_KEY,))
        row = cr.fetchone()
    if not row:
        raise SystemExit("no bench channel in the database: run inbox_bench.py setup first")
    return row[0]


def states(conn, channel, prefix):
    with conn.cursor() as cr:
        cr.execute(
            "SELECT state, count(*) FROM sale_inbox_order WHERE channel_id = %s AND external_id LIKE %s "
            "GROUP BY state", (channel, prefix + "%"))
        return dict(cr.fetchall())


def pending_elsewhere(conn, channel):
    with conn.cursor() as cr:
        cr.execute("SELECT count(*) FROM sale_inbox_order WHERE channel_id = %s AND state = 'new'", (channel,))
        return cr.fetchone()[0]


def exactly_once(conn, channel, prefix):
    """(inbox orders with exactly one sales order and one invoice, with none, with more)."""
    with conn.cursor() as cr:
        cr.execute(
            """
            WITH per_order AS (
                SELECT o.id,
                       (SELECT count(*) FROM sale_order s WHERE s.inbox_order_id = o.id) AS sale_orders,
                       (SELECT count(DISTINCT l.move_id)
                          FROM sale_order s
                          JOIN sale_order_line sl ON sl.order_id = s.id
                          JOIN sale_order_line_invoice_rel r ON r.order_line_id = sl.id
                          JOIN account_move_line l ON l.id = r.invoice_line_id
                         WHERE s.inbox_order_id = o.id) AS invoices
                  FROM sale_inbox_order o
                 WHERE o.channel_id = %s AND o.external_id LIKE %s
            )
            SELECT count(*) FILTER (WHERE sale_orders = 1 AND invoices = 1),
                   count(*) FILTER (WHERE sale_orders = 0),
                   count(*) FILTER (WHERE sale_orders > 1 OR invoices > 1)
              FROM per_order
            """, (channel, prefix + "%"))
        return cr.fetchone()


def duplicate_customers(conn, prefix):
    """Customers of this run that exist as more than one top-level contact."""
    with conn.cursor() as cr:
        cr.execute(
            "SELECT count(*) FROM (SELECT email FROM res_partner WHERE parent_id IS NULL AND email LIKE %s "
            "GROUP BY email HAVING count(*) > 1) t", (f"bench-{prefix}%",))
        return cr.fetchone()[0]


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def shape(query):
    """A statement's shape, without its values (no personal data in the figures)."""
    return _SPACE.sub(" ", _LITERAL.sub("?", query or "")).strip()[:110]


class LockSampler(threading.Thread):
    """Samples the database's backends: who waits for a lock, on what, behind which statement."""

    def __init__(self, args):
        super().__init__(daemon=True)
        self.conn = connect(args)
        self.db = args.db
        self.stop_event = threading.Event()
        self.samples = 0
        self.waiting = collections.Counter()  # (wait_event, waiting statement) -> samples
        self.blockers = collections.Counter()  # blocking statement (or state) -> samples
        self.relations = collections.Counter()  # locked relation/lock type -> samples
        self.busy = collections.Counter()  # backends active per sample

    def run(self):
        with self.conn.cursor() as cr:
            while not self.stop_event.wait(SAMPLE_INTERVAL):
                cr.execute(
                    """
                    SELECT a.pid, a.state, a.wait_event_type, a.wait_event, a.query,
                           pg_blocking_pids(a.pid),
                           (SELECT string_agg(DISTINCT coalesce(l.relation::regclass::text, l.locktype), ',')
                              FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)
                      FROM pg_stat_activity a
                     WHERE a.datname = %s AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
                    """, (self.db,))
                rows = cr.fetchall()
                self.samples += 1
                by_pid = {row[0]: row for row in rows}
                self.busy[sum(1 for row in rows if row[1] == "active")] += 1
                for _pid, _state, wtype, wevent, query, blocking, relation in rows:
                    if wtype != "Lock":
                        continue
                    self.waiting[(wevent, shape(query))] += 1
                    self.relations[f"{wevent} {relation or ''}".strip()] += 1
                    for other in blocking or ():
                        holder = by_pid.get(other)
                        if holder is None:
                            self.blockers["(another database or gone)"] += 1
                        elif holder[1] == "idle in transaction":
                            self.blockers[f"idle in transaction after: {shape(holder[4])}"] += 1
                        else:
                            self.blockers[f"{holder[1]}: {shape(holder[4])}"] += 1

    def stop(self):
        self.stop_event.set()
        self.join(5)
        self.conn.close()

    def report(self, top=6):
        waited = sum(self.waiting.values())
        lines = [(f"lock waits    {waited} backend samples waiting for a lock "
                  f"(~{waited * SAMPLE_INTERVAL:.1f} backend-seconds) out of {self.samples} samples")]
        for (event, query), count in self.waiting.most_common(top):
            lines.append(f"  waiting {count:5d}  [{event}] {query}")
        for relation, count in self.relations.most_common(top):
            lines.append(f"  on      {count:5d}  {relation}")
        for blocker, count in self.blockers.most_common(top):
            lines.append(f"  behind  {count:5d}  {blocker}")
        return lines


def scan_logs(paths, offsets):
    counts = collections.Counter()
    processed = []
    for path in paths:
        done = 0
        try:
            with open(path, errors="replace") as log:
                log.seek(offsets.get(path, 0))
                for line in log:
                    for name, pattern in LOG_PATTERNS.items():
                        if pattern.search(line):
                            counts[name] += 1
                    match = PROCESSED.search(line)
                    if match:
                        done += int(match.group(1))
        except FileNotFoundError:
            pass
        processed.append(done)
    return counts, processed


# ----------------------------------------------------------------------------------------
# One measurement
# ----------------------------------------------------------------------------------------

def bench_order(index, tag, customers=CUSTOMERS):
    """inbox_bench's order, with ids and customers of this run only (every run creates its
    customers, as the first run would): one of ``customers`` drawn at random (the same
    draw every run), so that customers recur within a batch and across batches that run at
    the same moment, as returning customers of a shop do."""
    data = order(index, f"S{tag}")
    customer = random.Random(index).randrange(customers)
    email = f"bench-S{tag}-{customer}@example.com"
    data["customer"] = {"id": f"sc-{tag}-{customer}", "email": email, "name": f"Bench Customer {customer}"}
    return data


def measure(args, count, conn, channel, run_index):
    tag = uuid.uuid4().hex[:8]
    prefix = f"S{tag}-"
    ports = list(zip(args.http_ports, args.gevent_ports, strict=False))[:count]
    if len(ports) < count:
        raise SystemExit(f"{count} servers need {count} HTTP and gevent ports")
    leftover = pending_elsewhere(conn, channel)
    if leftover:
        # An earlier run that did not finish: its orders would be processed in this one.
        with conn.cursor() as cr:
            cr.execute("UPDATE sale_inbox_order SET state = 'cancelled' WHERE channel_id = %s AND state = 'new'",
                       (channel,))
        print(f"  note: {leftover} orders of an earlier run were still new: cancelled")
    with conn.cursor() as cr:
        # A worker killed in an earlier run leaves its job's time-out count behind, and at
        # three Odoo skips the job once: each run starts from a clean count.
        cr.execute("UPDATE ir_cron_progress SET timed_out_counter = 0 WHERE timed_out_counter > 0")
        if cr.rowcount:
            print(f"  note: time-out counts of an earlier run reset ({cr.rowcount} job runs)")
    servers = Servers()
    logs = [os.path.join(args.log_dir, f"servers-bench-{run_index}-{i}.log") for i in range(count)]
    for log in logs:
        if os.path.exists(log):
            os.unlink(log)
    sampler = None
    try:
        for (http_port, gevent_port), log in zip(ports, logs, strict=True):
            servers.start(args, http_port, gevent_port, log)
        urls = [f"http://127.0.0.1:{http_port}" for http_port, _ in ports]
        wait_healthy(urls)
        # Warm every worker's connections and the cron runners up with a few orders first.
        warm_prefix = f"W{tag}-"
        post_orders(urls, [json.dumps(dict(order(i, f"W{tag}"))) for i in range(4 * count)])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if sum(v for k, v in states(conn, channel, warm_prefix).items() if k not in TERMINAL) == 0:
                break
            time.sleep(0.5)
        offsets = {log: os.path.getsize(log) if os.path.exists(log) else 0 for log in logs}
        load_before = os.getloadavg()[0]
        gevent_down = [port for _http, port in ports if not listening(port)]
        dead_cpu = children_cpu(servers.procs)

        bodies = [json.dumps(bench_order(i, tag, args.customers)) for i in range(args.n)]
        sampler = LockSampler(args)
        sampler.start()
        began = time.monotonic()
        statuses = post_orders(urls, bodies)
        posted = time.monotonic() - began
        deadline = began + args.timeout
        seen = {}
        while time.monotonic() < deadline:
            seen = states(conn, channel, prefix)
            if sum(seen.values()) >= args.n and not any(k not in TERMINAL for k in seen):
                break
            time.sleep(0.25)
        seconds = time.monotonic() - began
        finished = sum(seen.values()) >= args.n and not any(k not in TERMINAL for k in seen)
        sampler.stop()
        load_after = os.getloadavg()[0]
        dead_cpu = children_cpu(servers.procs) - dead_cpu
    finally:
        servers.stop()
        if sampler and sampler.is_alive():
            sampler.stop()

    once, none, more = exactly_once(conn, channel, prefix)
    log_counts, processed = scan_logs(logs, offsets)
    label = f"{count} server{'s' if count > 1 else ''} x {args.workers} workers + {args.cron_threads} cron"
    status = f"{seconds:.1f} s" if finished else f"NOT FINISHED after {seconds:.0f} s"
    print(f"servers       {label}: {args.n} orders in {status}: {args.n / seconds:.2f} orders/s "
          f"(posted in {posted:.1f} s, answers {dict(statuses)}); load {load_before:.1f} -> {load_after:.1f}")
    print(f"  states {seen}; exactly once {once}/{args.n} (no sales order {none}, duplicated {more}); "
          f"customers created twice {duplicate_customers(conn, prefix)}")
    print(f"  orders each server's cron logged as processed: {processed}; "
          f"logs: {dict(log_counts) or 'nothing about concurrency'}")
    if gevent_down:
        # A prefork master restarts its gevent worker as soon as it dies: one that cannot
        # start (a port another server holds, an import error) burns a core in restarts.
        print(f"  WARNING: no gevent worker listening on port(s) {gevent_down}: restarted over and over, "
              f"it burns CPU (see the server log)")
    print(f"  workers that ended during the run (killed, restarted) used {dead_cpu:.0f} CPU-seconds")
    for line in sampler.report():
        print("  " + line)
    return seconds if finished else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--odoo-bin", required=True)
    parser.add_argument("--servers", default="1,2", help="server counts to measure, back to back")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="customers the orders are drawn from")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cron-threads", type=int, default=1)
    parser.add_argument("--http-ports", default="8276,8277")
    parser.add_argument("--gevent-ports", default="8278,8279")
    parser.add_argument("--limit-time-real", type=int, default=120)
    parser.add_argument("--limit-time-cpu", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a run may take")
    parser.add_argument("--log-dir", default="/tmp")
    parser.add_argument("--server-pythonpath", default="",
                        help="prepended to the servers' PYTHONPATH (e.g. a setuptools<81 for gevent)")
    args = parser.parse_args(argv)
    args.http_ports = [int(p) for p in args.http_ports.split(",")]
    args.gevent_ports = [int(p) for p in args.gevent_ports.split(",")]
    counts = [int(c) for c in args.servers.split(",")]

    def on_signal(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    conn = connect(args)
    channel = channel_id(conn)
    results = collections.defaultdict(list)
    run_index = 0
    for _ in range(args.repeat):
        for count in counts:
            run_index += 1
            results[count].append(measure(args, count, conn, channel, run_index))
    summary = "; ".join(
        f"{count} server{'s' if count > 1 else ''}: "
        + ", ".join(f"{s:.1f} s" if s else "unfinished" for s in seconds)
        for count, seconds in results.items())
    print(f"servers summary ({args.n} orders, {args.cron_threads} cron thread(s) per server): {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
