"""Open a page in Debian's real headless ``chromium`` and report what a user's browser would show.

Driven through the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages, NUL-terminated, on
file descriptors 3 and 4 of the browser): this needs no Python package, no free TCP port and no browser
download (Playwright or Selenium would fetch their own browser or driver, which this machine cannot do).
Only the handful of protocol calls a report check needs are written here.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@dataclass
class PageCheck:
    """What loading a page produced: console errors and uncaught exceptions, every ``<img>`` with its decoded
    width (0: it did not decode), and a PNG screenshot of the whole page."""

    errors: list = field(default_factory=list)
    images: list = field(default_factory=list)  #: [(alt, naturalWidth)]
    screenshot: bytes = b""
    title: str = ""


class _Pipe:
    def __init__(self, proc, write_fd: int, read_fd: int, timeout: float):
        self.proc, self.w, self.r, self.timeout = proc, write_fd, read_fd, timeout
        self.buf, self.events, self.next_id = b"", [], 0

    def _messages(self, deadline: float):
        while True:
            if b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                yield json.loads(raw)
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self.buf += chunk

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        for m in self._messages(time.monotonic() + self.timeout):
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str) -> dict:
        for i, m in enumerate(self.events):
            if m.get("method") == method:
                return self.events.pop(i)
        for m in self._messages(time.monotonic() + self.timeout):
            if m.get("method") == method:
                return m
            self.events.append(m)


_IMAGES_JS = """Promise.all(Array.from(document.images).map(
  i => i.decode().then(() => [i.alt, i.naturalWidth], () => [i.alt, 0])))"""


def _above(fd: int, low: int) -> int:
    """``fd`` moved to a descriptor number >= ``low``."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return new


def check_page(path: str | os.PathLike, exe: str | None = None, width: int = 1200, timeout: float = 60.0) -> PageCheck:
    """Load ``path`` (a local HTML file) in headless chromium; return errors, images and a full-page screenshot."""
    with _chromium(exe, timeout) as pipe:
        return _run(pipe, Path(path).resolve().as_uri(), width)


def measure(path: str | os.PathLike, expression: str, exe: str | None = None, widths=(1200,),
            media: str = "screen", timeout: float = 60.0) -> list:
    """The value of the JavaScript ``expression`` on ``path`` laid out in a window of each of ``widths`` CSS px
    (one browser for all), under the CSS media type ``media``: ``"print"`` lays the page out with its print
    rules, at the width given (a page's printable width, e.g. 720 px for A4 or Letter with margins)."""
    with _chromium(exe, timeout) as pipe:
        s = _session(pipe)
        pipe.call("Emulation.setEmulatedMedia", s, media=media)
        values = []
        for width in widths:
            pipe.call("Emulation.setDeviceMetricsOverride", s, width=width, height=900, deviceScaleFactor=1,
                      mobile=False)
            pipe.call("Page.navigate", s, url=Path(path).resolve().as_uri())
            pipe.wait_event("Page.loadEventFired")
            values.append(pipe.call("Runtime.evaluate", s, expression=expression, returnByValue=True)["result"]["value"])
        return values


@contextlib.contextmanager
def _chromium(exe: str | None, timeout: float):
    """A headless chromium driven over the debugging pipe, closed on leaving."""
    exe = exe or find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed")
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()
    # the child's ends above 4, so that placing them on 3 and 4 cannot overwrite one with the other
    cmd_r, res_w = (_above(fd, 10) for fd in (cmd_r, res_w))
    with tempfile.TemporaryDirectory() as profile, open(Path(profile) / "stderr.log", "w+") as log:
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                "--disable-extensions", f"--user-data-dir={profile}", "about:blank"]
        # fds 3 and 4 are where chromium expects the pipe; bash's redirections put them there (dash's stop at fd 9).
        proc = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{cmd_r} 4>&{res_w}', "bash", *args],
                                pass_fds=(cmd_r, res_w), stdout=subprocess.DEVNULL, stderr=log)
        os.close(cmd_r)
        os.close(res_w)
        pipe = _Pipe(proc, cmd_w, res_r, timeout)
        try:
            yield pipe
        except (RuntimeError, OSError) as e:
            log.seek(0)
            raise RuntimeError(f"{e}; chromium's stderr ends: {log.read()[-2000:]}") from e
        finally:
            try:
                pipe.call("Browser.close")
            except (RuntimeError, TimeoutError, OSError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(cmd_w)
            os.close(res_r)


def _session(pipe: _Pipe) -> str:
    """The session of the browser's one page, with its Page, Runtime and Log events enabled."""
    target = next(t for t in pipe.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
    s = pipe.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        pipe.call(f"{domain}.enable", s)
    return s


def _run(pipe: _Pipe, url: str, width: int) -> PageCheck:
    s = _session(pipe)
    pipe.call("Emulation.setDeviceMetricsOverride", s, width=width, height=900, deviceScaleFactor=1, mobile=False)
    pipe.events.clear()  # what about:blank said before the report was asked for
    pipe.call("Page.navigate", s, url=url)
    pipe.wait_event("Page.loadEventFired")
    check = PageCheck()
    check.images = [tuple(x) for x in pipe.call("Runtime.evaluate", s, expression=_IMAGES_JS, awaitPromise=True,
                                                returnByValue=True)["result"]["value"]]
    check.title = pipe.call("Runtime.evaluate", s, expression="document.title", returnByValue=True)["result"]["value"]
    height = pipe.call("Page.getLayoutMetrics", s)["cssContentSize"]["height"]
    pipe.call("Emulation.setDeviceMetricsOverride", s, width=width, height=int(height) + 1, deviceScaleFactor=1,
              mobile=False)
    check.screenshot = base64.b64decode(pipe.call("Page.captureScreenshot", s, format="png")["data"])
    for m in pipe.events:  # everything the page reported while loading and rendering
        p = m.get("params", {})
        if m.get("method") == "Runtime.exceptionThrown":
            check.errors.append(p["exceptionDetails"].get("text", "exception"))
        elif m.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            check.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m.get("method") == "Log.entryAdded" and p["entry"].get("level") == "error":
            check.errors.append(p["entry"].get("text", ""))
    return check
