"""The live progress reaches a browser on a multi-worker server.

With ``--workers`` Odoo serves websockets from a separate gevent process; with setuptools 81 or
later (no ``pkg_resources``) that process died at start and nothing live reached a browser.
This starts the addon's server as ``tools/run`` does, with ``--workers=2``, on free ports, in
this test's database; logs in as the administrator; opens ``/websocket`` on the gevent port;
follows a channel's progress; presses Sync Now by JSON-RPC (an HTTP worker) and waits for the
progress message to arrive through the websocket.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

import odoo
from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from odoo.addons.bus.websocket import WebsocketConnectionHandler

#: Seconds the whole test may take on a busy machine (it takes 5–15 s on a quiet one).
DEADLINE = 60


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install")
class TestLiveWebsocket(TransactionCase):

    def setUp(self):
        super().setUp()
        try:
            import websocket  # noqa: PLC0415 - the test's client, a test requirement
        except ImportError:
            self.fail("websocket-client is missing from the virtualenv: tools/common.sh installs it "
                      "(requirements-test.txt); the multi-worker bus cannot be checked without it")
        self.websocket = websocket
        self.started = time.monotonic()
        self.db = self.env.cr.dbname
        self.http_port, self.gevent_port = free_port(), free_port()
        self.channel_id = self.committed(lambda env: env["sale.channel"].create(
            {"name": "Websocket check", "platform": "woocommerce"}).id)
        self.addCleanup(self.committed, self.forget_channel)

    # ------------------------------------------------------------------

    def committed(self, work):
        """Run ``work(env)`` in a transaction of its own, committed: the server sees only what
        is committed (this test's own transaction never is)."""
        with self.registry.cursor() as cr:
            return work(api.Environment(cr, SUPERUSER_ID, {}))

    def forget_channel(self, env):
        channel = env["sale.channel"].browse(self.channel_id)
        env["ir.cron.trigger"].search([("cron_id", "=", env.ref("sale_inbox.ir_cron_sync_stock").id),
                                       ("create_date", ">=", channel.create_date)]).unlink()
        channel.unlink()

    def left(self):
        return max(1.0, DEADLINE - (time.monotonic() - self.started))

    def start_server(self):
        """``tools/run``'s command (the virtualenv's Python, odoo-bin, the same configuration
        file), with two HTTP workers, on free ports, without cron workers."""
        odoo_bin = pathlib.Path(odoo.__file__).resolve().parent.parent / "odoo-bin"
        log = tempfile.NamedTemporaryFile(prefix="sale_inbox_ws_", suffix=".log", delete=False)  # noqa: SIM115
        self.addCleanup(os.unlink, log.name)
        self.log = pathlib.Path(log.name)
        command = [sys.executable, str(odoo_bin), "-c", config.rcfile, "-d", self.db, f"--db-filter=^{self.db}$",
                   "--http-interface=127.0.0.1", f"--http-port={self.http_port}",
                   f"--gevent-port={self.gevent_port}", "--workers=2", "--max-cron-threads=0",
                   "--log-level=warn", f"--logfile={log.name}"]
        # Its own process group: the workers and the gevent process go with it at the end.
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.addCleanup(self.stop_server, server)
        return server

    def stop_server(self, server):
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(5)

    def server_log(self):
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-4000:] or "(nothing logged)"

    def wait_for(self, server, url):
        while True:
            if server.poll() is not None:
                self.fail(f"the server stopped (exit {server.returncode}):\n{self.server_log()}")
            try:
                status = requests.get(url, timeout=2).status_code
            except requests.RequestException:
                status = None  # not listening yet
            if status == 200:
                return
            if self.left() <= 1:
                self.fail(f"{url} did not answer:\n{self.server_log()}")
            time.sleep(0.3)

    def rpc(self, session, path, params):
        response = session.post(f"http://127.0.0.1:{self.http_port}{path}", timeout=self.left(),
                                json={"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
        answer = response.json()
        self.assertNotIn("error", answer, answer.get("error"))
        return answer["result"]

    # ------------------------------------------------------------------

    def test_sync_now_progress_reaches_a_browser_through_the_gevent_process(self):
        server = self.start_server()
        self.wait_for(server, f"http://127.0.0.1:{self.http_port}/web/health")
        # The websocket is served by the gevent process only: its port answering is the point.
        self.wait_for(server, f"http://127.0.0.1:{self.gevent_port}/websocket/health")
        self.assertEqual(server.poll(), None)

        session = requests.Session()
        self.rpc(session, "/web/session/authenticate", {"db": self.db, "login": "admin", "password": "admin"})
        last = self.committed(lambda env: env["bus.bus"].sudo()._bus_last_id())
        ws = self.websocket.create_connection(
            f"ws://127.0.0.1:{self.gevent_port}/websocket?version={WebsocketConnectionHandler._VERSION}",
            cookie=f"session_id={session.cookies['session_id']}",
            origin=f"http://127.0.0.1:{self.gevent_port}", timeout=self.left())
        self.addCleanup(ws.close)
        ws.send(json.dumps({"event_name": "subscribe", "data": {
            "channels": [f"sale_inbox_progress:{self.channel_id}"], "last": last}}))

        # Sync Now in an HTTP worker: its "queued" message is committed with the request.
        self.rpc(session, "/web/dataset/call_kw/sale.channel/action_sync_now", {
            "model": "sale.channel", "method": "action_sync_now", "args": [[self.channel_id]], "kwargs": {}})

        received = []
        while True:
            ws.settimeout(self.left())
            try:
                frame = ws.recv()
            except self.websocket.WebSocketTimeoutException:
                self.fail(f"no progress message within {DEADLINE} s; received {received}:\n{self.server_log()}")
            for notification in json.loads(frame) if frame else []:
                received.append(notification["message"])
                if notification["message"]["type"] == "sale_inbox/progress":
                    payload = notification["message"]["payload"]
                    self.assertEqual((payload["channel_id"], payload["kind"], payload["state"]),
                                     (self.channel_id, "sync", "queued"))
                    self.assertEqual(server.poll(), None, "the server still runs")
                    # setuptools 81's gevent start: "No module named 'pkg_resources'".
                    self.assertNotIn("No module named", self.server_log())
                    return
