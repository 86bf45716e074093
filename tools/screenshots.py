"""Screenshots of the Sales Inbox for README.rst and the app page, taken in headless Chromium
from the demo (tools/run) with its demo channels and orders.

    tools/screenshots                        start the demo on a free port, shoot, stop it
    tools/screenshots --url http://localhost:8069 --db sale_inbox    shoot a running demo

The PNGs go to static/description/ (shown by README.rst on code hosts and by Odoo's app
page). What is shot is the SHOTS list below: a name, the actions to open (the first that
exists in the database), and optionally a record of it to open.

Only the standard library and websocket-client (in the project's virtualenv) are used: the
browser is driven through the Chrome DevTools protocol.
"""
import argparse
import base64
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import websocket

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "static" / "description"
CHROME_NAMES = ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable")


@dataclass
class Shot:
    name: str
    #: Action XML ids, tried in order: the first one the database has is opened.
    actions: list
    #: A record of the action's model to open in its form: (model, [domain, ...]), the first
    #: record of the first domain that finds one.
    record: tuple = None
    #: Shown once this selector matches.
    ready: str = ".o_action_manager .o_view_controller"
    #: Run in the page before the shot (a click on a tab, ...).
    script: str = ""
    size: tuple = (1280, 800)


SHOTS = [
    # The to-do inbox: a kanban in columns by state, filtered on "To Do".
    # At 1280 px its columns are wider than the screen: scrolled to the right end, it shows the
    # columns that hold the work (Needs Review, Error) whole, and Done and Cancelled folded.
    Shot("inbox", ["sale_inbox.sale_inbox_order_action"],
         ready=".o_kanban_renderer.o_kanban_grouped .o_kanban_group .o_kanban_record:not(.o_kanban_ghost)",
         script="for (const el of document.querySelectorAll('.o_content, .o_kanban_renderer')) "
                "{ el.scrollLeft = el.scrollWidth; }"),
    # The review screen of an order that stopped, its problems listed with the buttons that fix
    # them: the demo's order with a SKU Odoo does not know first (its line shows Link Product).
    Shot("review", ["sale_inbox.sale_inbox_order_action"],
         record=("sale.inbox.order", [[("failed_step", "=", "products"), ("problem_ids", "!=", False)],
                                      [("state", "in", ["needs_review", "error"]), ("problem_ids", "!=", False)],
                                      [("state", "in", ["needs_review", "error"])]]),
         ready='.o_form_view .o_form_saved div[name="problems"] .o_data_row'),
    # The channels overview: a card per channel, its health light, counts and graph.
    Shot("channels", ["sale_inbox.sale_channel_dashboard_action", "sale_inbox.sale_channel_action"],
         ready=".o_action_manager .o_view_controller :is(.o_kanban_record:not(.o_kanban_ghost), .o_data_row)"),
]


def say(message):
    print(f"[screenshots] {message}", file=sys.stderr)


class Odoo:
    """JSON-RPC as one logged-in user (urllib, a cookie jar)."""

    def __init__(self, url, db, login, password):
        self.url = url.rstrip("/")
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.call("/web/session/authenticate", db=db, login=login, password=password)

    def call(self, path, **params):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params}).encode()
        request = urllib.request.Request(self.url + path, body, {"Content-Type": "application/json"})
        with self.opener.open(request, timeout=60) as response:
            answer = json.load(response)
        if answer.get("error"):
            raise RuntimeError(answer["error"].get("data", {}).get("message") or answer["error"])
        return answer["result"]

    def execute(self, model, method, *args, **kwargs):
        return self.call("/web/dataset/call_kw", model=model, method=method, args=list(args), kwargs=kwargs)

    def session_id(self):
        return next(c.value for c in self.cookies if c.name == "session_id")

    def xmlid_exists(self, xmlid):
        module, name = xmlid.split(".", 1)
        return bool(self.execute("ir.model.data", "search_count", [("module", "=", module), ("name", "=", name)]))


class Chrome:
    """A headless Chromium and its first page, over the DevTools protocol."""

    def __init__(self, width, height):
        executable = next(filter(None, map(shutil.which, CHROME_NAMES)), None)
        if not executable:
            raise SystemExit(f"no Chromium or Chrome on PATH ({', '.join(CHROME_NAMES)}): apt-get install chromium")
        self.profile = tempfile.mkdtemp(prefix="sale_inbox_shots_")
        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--disable-extensions",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._devtools_port()
        page = next(t for t in self._json(port, "/json/list") if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], max_size=None, suppress_origin=True,
                                              timeout=60)
        self.ids = itertools.count(1)
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.resize(width, height)

    def _devtools_port(self):
        # Chromium writes the port it chose into the profile when it is listening.
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                return int(port_file.read_text().split()[0])
            if self.proc.poll() is not None:
                raise SystemExit(f"Chromium stopped at start (exit {self.proc.returncode})")
            time.sleep(0.1)
        raise SystemExit("Chromium did not open its DevTools port within 30 s")

    @staticmethod
    def _json(port, path):
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    targets = json.load(response)
                if any(t["type"] == "page" for t in targets):
                    return targets
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("Chromium has no page to drive")

    def send(self, method, **params):
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def resize(self, width, height):
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("exception", {}).get("description", expression))
        return result["result"].get("value")

    def wait_for(self, selector, timeout=60):
        probe = f"!!document.querySelector({json.dumps(selector)})"
        busy = "!!document.querySelector('.o_loading_indicator, .o_blockUI, .o_view_sample_data')"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(probe) and not self.evaluate(busy):
                time.sleep(1.0)  # images, fonts and animations
                return
            time.sleep(0.25)
        raise RuntimeError(f"{selector!r} did not appear within {timeout} s")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 (closing anyway)
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def url_of(odoo, shot):
    action = next((xmlid for xmlid in shot.actions if odoo.xmlid_exists(xmlid)), None)
    if not action:
        raise RuntimeError(f"{shot.name}: none of the actions {shot.actions} exists")
    url = f"{odoo.url}/odoo/action-{action}"
    if shot.record:
        model, domains = shot.record
        ids = next(filter(None, (odoo.execute(model, "search", domain, limit=1, order="id")
                                 for domain in domains)), None)
        if not ids:
            raise RuntimeError(f"{shot.name}: no {model} matches {domains} in this database")
        url += f"/{ids[0]}"
    return url


def take(odoo, shots, out, only=None):
    width, height = shots[0].size
    chrome = Chrome(width, height)
    try:
        host = re.sub(r"^https?://([^/:]+).*", r"\1", odoo.url)
        chrome.send("Network.enable")
        chrome.send("Network.setCookie", name="session_id", value=odoo.session_id(), domain=host, path="/")
        for shot in shots:
            if only and shot.name not in only:
                continue
            chrome.resize(*shot.size)
            url = url_of(odoo, shot)
            chrome.send("Page.navigate", url=url)
            chrome.wait_for(shot.ready)
            if shot.script:
                chrome.evaluate(shot.script)
                time.sleep(1.0)
            path = out / f"screenshot_{shot.name}.png"
            chrome.screenshot(path)
            say(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {url}")
    finally:
        chrome.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url):
    try:
        with urllib.request.urlopen(url + "/web/login", timeout=5):
            return True
    except OSError:
        return False


def start_demo(db, port):
    """tools/run in its own process group (stopped whole by stop_demo), its output in a log."""
    log = Path(tempfile.gettempdir()) / f"sale_inbox_screenshots_{port}.log"
    say(f"starting the demo (tools/run) on port {port}, database {db}; its log: {log}")
    env = dict(os.environ, PORT=str(port), SALE_INBOX_DB=db)
    with open(log, "wb") as output:
        proc = subprocess.Popen([str(ROOT / "tools" / "run")], env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log


def stop_demo(proc):
    """Stop tools/run and what it started (Odoo, the demo store): its process group."""
    def group_alive():
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    if group_alive():
        os.killpg(proc.pid, signal.SIGTERM)
    for _ in range(120):  # Odoo finishes its requests and crons first
        proc.poll()
        if not group_alive():
            return
        time.sleep(0.5)
    say("the demo did not stop within 60 s: killing it")
    os.killpg(proc.pid, signal.SIGKILL)


def wait_for_demo(url, proc, log, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the demo stopped (exit {proc.returncode}): see {log}")
        if answers(url):
            return
        time.sleep(2)
    raise SystemExit(f"the demo did not answer at {url} within {timeout} s")


def wait_for_orders(odoo, timeout):
    """The demo store sends its orders once Odoo answers, and they are processed in the
    background: wait until they are in and none is still new."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = odoo.execute("sale.inbox.order", "search_count", [])
        pending = odoo.execute("sale.inbox.order", "search_count", [("state", "=", "new")])
        if total >= 5 and not pending:
            return
        time.sleep(3)
    say("the demo orders are not all processed yet: shooting them as they are")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running demo (default: start tools/run on a free port)")
    parser.add_argument("--db", default=os.environ.get("SALE_INBOX_DB", "sale_inbox"))
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="names of the shots to take (default all): "
                        + ", ".join(s.name for s in SHOTS))
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for the demo to start")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    proc = log = None
    url = args.url
    if not url:
        port = free_port()
        url = f"http://localhost:{port}"
        proc, log = start_demo(args.db, port)
    try:
        wait_for_demo(url.rstrip("/"), proc, log, args.timeout)
        odoo = Odoo(url, args.db, args.login, args.password)
        wait_for_orders(odoo, 120)
        take(odoo, SHOTS, args.out, args.only)
    finally:
        if proc is not None:
            stop_demo(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
