#!/usr/bin/env python3
"""Drives the dashboard in a real headless Chromium, as the person on call would.

  scripts/dashboard-check.py [--out DIR]

Starts a private PostgreSQL cluster (scripts/pg.sh), migrates, makes a job fail for real
(diag.fail under `ledgersync worker`), starts `ledgersync api`, signs in with a one-time link
(`ledgersync dashboard link`: its button, then the HttpOnly session cookie; the link's second
use is refused), opens the failed-jobs page in Chromium (Debian's `chromium`, over the DevTools protocol), saves a screenshot, presses
the job's Retry button, saves a second screenshot, and checks in the database that the job
moved to `available`. Exits non-zero on any failed check. Needs `chromium` (apt-get install
chromium) and PyPI's websocket-client (installed into .venv-dashboard). A full
scripts/test.sh runs it (and installs chromium first).
"""
import argparse
import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ensure_venv():
    """Re-runs this script inside .venv-dashboard with websocket-client installed."""
    venv = ROOT / ".venv-dashboard"
    python = venv / "bin" / "python"
    if pathlib.Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "websocket-client"], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def run(args, env=None, capture=True):
    result = subprocess.run(args, env=env, check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return result.stdout.strip() if capture else ""


def free_port():
    """A port nothing listens on now (the kernel's choice), rather than a random one that a
    test cluster or server of a concurrent run may already hold."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=30.0, process=None, log=None):
    """Polls `check` until it holds; gives up at `timeout`, or at once when `process` (the
    server being waited for) has exited, printing its `log`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            output = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            sys.exit(f"dashboard-check: {what} exited ({process.returncode}) before it was ready:\n{output}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    output = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    sys.exit(f"dashboard-check: timed out waiting for {what}" + (f":\n{output}" if output else ""))


class DevTools:
    """The smallest DevTools-protocol client: send a command, wait for its answer or an event."""

    def __init__(self, url):
        import websocket  # from .venv-dashboard

        self.socket = websocket.create_connection(url, timeout=30)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, name, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for index, event in enumerate(self.events):
                if event.get("method") == name:
                    del self.events[index]
                    return event
            self.socket.settimeout(max(0.1, deadline - time.time()))
            try:
                self.events.append(json.loads(self.socket.recv()))
            except Exception:
                break
        raise RuntimeError(f"no {name} within {timeout}s")

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        print(f"  screenshot: {path}")


def main():
    ensure_venv()
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/ledgersync-dashboard-check", help="where the screenshots go")
    options = parser.parse_args()
    out = pathlib.Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("dashboard-check: no chromium on PATH (apt-get install chromium)")

    run(["swift", "build"], capture=False)
    binary = pathlib.Path(run(["swift", "build", "--show-bin-path"])) / "ledgersync"
    work = pathlib.Path(tempfile.mkdtemp(prefix="ledgersync-dashboard."))
    os.chmod(work, 0o755)
    processes = []
    pg_data = work / "data"
    try:
        pg_port = free_port()
        database_url = run([str(ROOT / "scripts" / "pg.sh"), "start", str(pg_data), str(pg_port)])
        env = dict(os.environ, DATABASE_URL=database_url,
                   LEDGERSYNC_SECRET_KEY=base64.b64encode(os.urandom(32)).decode(), LOG_LEVEL="warning")
        run([str(binary), "migrate"], env=env)
        job_id = json.loads(run([str(binary), "enqueue", "diag.fail", "--max-attempts", "1", "--json"], env=env))["id"]

        def job_state():
            return run(["psql", database_url, "-Atc", f"SELECT state FROM ledgersync.jobs WHERE id = {int(job_id)}"])

        print(f"==> making job {job_id} fail for real (diag.fail under a worker)")
        worker = subprocess.Popen([str(binary), "worker", "--diagnostic-kinds", "--poll-interval", "100ms"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(worker)
        wait_for("the job to fail", lambda: job_state() == "failed")
        worker.terminate()
        worker.wait(timeout=40)

        api_port = free_port()
        api_log = work / "api.log"
        api = subprocess.Popen([str(binary), "api", "--port", str(api_port), "--diagnostic-kinds"], env=env,
                               stdout=api_log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(api)
        base = f"http://127.0.0.1:{api_port}"
        wait_for("the API", lambda: urllib.request.urlopen(base + "/healthz", timeout=1).status == 200, process=api, log=api_log)

        debug_port = free_port()
        browser = subprocess.Popen([
            chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
            f"--remote-debugging-port={debug_port}", f"--user-data-dir={work / 'browser'}", "--window-size=1400,900", "about:blank",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(browser)
        targets = []

        def page_target():
            targets[:] = [t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=1)) if t["type"] == "page"]
            return bool(targets)

        wait_for("Chromium", page_target)
        tools = DevTools(targets[0]["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)

        print("==> signing in with a one-time link (ledgersync dashboard link), then the failed-jobs page")
        link = run([str(binary), "dashboard", "link", "--for", "dashboard-check", "--url", base], env=env)
        failures = []
        tools.call("Page.navigate", url=link)
        tools.wait_event("Page.loadEventFired")
        clicked = tools.evaluate("(() => { const f = document.querySelector('form[action=\"/dashboard/sign-in\"]'); if (!f) return false; f.querySelector('button').click(); return true; })()")
        if not clicked:
            failures.append("the sign-in link showed no Sign in button")
        else:
            tools.wait_event("Page.loadEventFired")
        if tools.evaluate("location.pathname") != "/dashboard":
            failures.append(f"signing in did not land on /dashboard: {tools.evaluate('location.href')}")
        if tools.evaluate("document.cookie") != "":
            failures.append("a script can read the session cookie (it must be HttpOnly)")
        tools.call("Page.navigate", url=f"{base}/dashboard/jobs?state=failed")
        tools.wait_event("Page.loadEventFired")
        text = tools.evaluate("document.body.innerText")
        if str(job_id) not in text or "diag.fail fails on purpose" not in text:
            failures.append("the failed job or its error is not on the page")
        tools.screenshot(out / "failed-jobs.png")

        print(f"==> pressing Retry on job {job_id}")
        clicked = tools.evaluate(f"(() => {{ const f = document.querySelector('form[action=\"/dashboard/jobs/{job_id}/retry\"]'); if (!f) return false; f.querySelector('button').click(); return true; }})()")
        if not clicked:
            failures.append("no Retry button for the job")
        else:
            tools.wait_event("Page.loadEventFired")
            text = tools.evaluate("document.body.innerText")
            if "will run again now" not in text:
                failures.append("no notice after the retry")
            tools.screenshot(out / "after-retry.png")
        state = job_state()
        print(f"  job {job_id} in the database: {state}")
        if state != "available":
            failures.append(f"job {job_id} is {state}, expected available")

        print("==> the same link a second time: refused")
        tools.call("Page.navigate", url=link)
        tools.wait_event("Page.loadEventFired")
        tools.evaluate("document.querySelector('form[action=\"/dashboard/sign-in\"] button').click()")
        tools.wait_event("Page.loadEventFired")
        if "used, expired or unknown" not in tools.evaluate("document.body.innerText"):
            failures.append("the link's second use was not refused")

        if failures:
            for failure in failures:
                print(f"  FAIL {failure}")
            return 1
        print("  ok the page showed the failed job and its error; Retry moved it to available")
        return 0
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "stop", str(pg_data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
