"""`make report` makes one self-contained HTML file that a browser shows: the tests, and a scenario's trace plot.

A few scenarios are run into fresh Allure results, the report is built with the pinned Allure 3 (installed from
reports/package-lock.json by the report command itself), and the page is opened in headless Chromium, driven over
the DevTools protocol on a pipe (no port, no network): the test names must be on the page, and opening a test and
its "trace plot" attachment must show a decoded image. The page must load nothing from the network and carry no
analytics tag, and a second build must add to the history.

Needs Node.js >= 20 with npm, and Chromium (Debian's `chromium` package); `.ci/run` installs them on CI. Where
one is missing the test is skipped and says which.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rig import report

ROOT = Path(__file__).resolve().parents[1]
PLAN = "tests/report_plans/plan_scenarios.py"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _needs() -> str:
    node = shutil.which("node")
    version = report.node_version(node) if node else None
    if version is None or version < report.MIN_NODE:
        return "Node.js >= 20 is missing (apt-get install nodejs npm; .ci/run does it on CI)"
    if shutil.which("npm") is None:
        return "npm is missing (apt-get install npm; .ci/run does it on CI)"
    if _chromium() is None:
        return "Chromium is missing (apt-get install chromium; .ci/run does it on CI)"
    return ""


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4, NUL-separated JSON)."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        shell = " ".join(["exec", exe, *flags, f"3<&{to_chrome_r}", f"4>&{from_chrome_w}"])
        self.proc = subprocess.Popen(["bash", "-c", shell], pass_fds=(to_chrome_r, from_chrome_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buf:
                if time.monotonic() > deadline:
                    raise TimeoutError(method)
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self._buf += chunk
            raw, _, self._buf = self._buf.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.navigate", {"url": url})

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        seen = self.eval("document.body ? document.body.innerText.slice(0, 3000) : location.href")
        raise TimeoutError(f"{expression}\nthe page shows: {seen}")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = _needs()
    if missing:
        pytest.skip(f"the HTML report cannot be checked here: {missing}")
    tmp = tmp_path_factory.mktemp("report")
    results, out, history = tmp / "allure-results", tmp / "html", tmp / "history.jsonl"
    run = subprocess.run([sys.executable, "-m", "pytest", PLAN, "-q", f"--alluredir={results}", "--clean-alluredir",
                          f"--trace-dir={tmp / 'traces'}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert any(results.glob("*-result.json")), run.stdout[-3000:] + run.stderr[-3000:]
    for _ in range(2):  # two builds: the second one has the first in its history
        proc = subprocess.run([sys.executable, "-m", "rig.report", "--results", str(results), "--out", str(out),
                               "--history", str(history)], cwd=ROOT, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"tmp": tmp, "results": results, "page": out / "index.html", "history": history, "out": out}


def test_report_is_one_offline_file_without_analytics(built: dict[str, Path]) -> None:
    page = built["page"]
    html = page.read_text(encoding="utf-8")
    assert report.check_offline(html) == []
    assert "googletagmanager" not in html and "gtag(" not in html
    assert [p.name for p in built["out"].glob("*.html")] == ["index.html"]
    assert len([line for line in built["history"].read_text().splitlines() if line.strip()]) == 2


def test_chromium_shows_the_tests_and_a_scenario_plot(built: dict[str, Path]) -> None:
    exe = _chromium()
    assert exe is not None
    results = [json.loads(f.read_text()) for f in built["results"].glob("*-result.json")]
    names = sorted(r["name"] for r in results)
    assert len(names) == 3
    browser = Browser(exe, built["tmp"] / "chromium-profile")
    try:
        browser.open(built["page"].as_uri())
        # the tree lists the plan's suites; opening every closed group shows every test by name
        browser.wait_for("document.body && document.body.innerText.includes('report_plans')")
        every = f"{json.dumps(names)}.every(n => t.includes(n))"
        text = browser.wait_for(f"""(() => {{
            for (const section of document.querySelectorAll('[data-testid=tree-section]')) {{
                const arrow = section.querySelector('[data-testid=tree-arrow]');
                const classes = arrow ? [arrow, ...arrow.querySelectorAll('*')].flatMap(e => [...e.classList]) : [];
                if (!classes.some(c => c.includes('opened'))) section.click();
            }}
            const t = document.body.innerText;
            return {every} && t;
        }})()""")
        assert all(n in text for n in names)
        # open one scenario, then its trace plot attachment: the PNG must be decoded and shown
        ids = json.loads((built["out"] / "test-results.json").read_text())["byId"]
        wanted = next(i for i, r in ids.items() if r["name"] == "test_cut_off_follower_falls_back[2u-follower-wifi]")
        browser.eval(f"window.location.hash = {json.dumps(wanted)}")
        browser.wait_for("document.body.innerText.includes('trace plot')")
        assert "t=" in browser.eval("document.body.innerText") and "cut_wifi wc2" in browser.eval(
            "document.body.innerText")
        browser.eval("[...document.querySelectorAll('*')].filter(e => !e.children.length && "
                     "e.textContent.trim() === 'trace plot').forEach(e => e.click())")
        size = browser.wait_for("(() => { const i = [...document.images].find(i => i.complete && i.naturalWidth > 0);"
                                " if (i) { i.scrollIntoView(); return [i.naturalWidth, i.naturalHeight]; } })()")
        assert size[0] >= 400 and size[1] >= 300, size
        browser.screenshot(built["tmp"] / "trace-plot.png")
    finally:
        browser.close()


def test_without_node_the_report_says_how_in_one_line_and_succeeds(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # neither node nor npm on the PATH
    proc = subprocess.run([sys.executable, "-m", "rig.report", "--results", str(tmp_path / "results")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and "Node.js is missing" in proc.stdout and "make report" in proc.stdout


ALLURE_TAG = """    <script>window.allure = window.allure || {};</script>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
        gtag('config', 'G-LNDJ3J7WT0', {
          "report": "awesome",
          "single_file": "true"
        });
    </script>
    <script async>window.allureReportDataReady = false;</script>"""


def test_analytics_tag_is_cut_and_remote_loads_are_refused() -> None:
    html, cut = report.strip_analytics(ALLURE_TAG)
    assert cut == 1 and report.check_offline(html) == []
    assert "window.allure = " in html and "allureReportDataReady" in html
    assert report.check_offline(ALLURE_TAG)  # the tag itself is refused
    assert report.check_offline('<link rel="stylesheet" href="https://fonts.example/x.css">')
    assert report.check_offline('<img src="//cdn.example/x.png">')
    assert not report.check_offline('<img src="data:image/png;base64,AAAA"><a href="https://allurereport.org">')
