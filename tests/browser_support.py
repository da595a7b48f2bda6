"""JupyterLab driven in headless Chromium, for the browser tests.

A JupyterLab server the tests start on 127.0.0.1 and always stop, a Playwright page in Debian's
Chromium (``BrowserUnavailable`` when that cannot be had, so callers can skip), and the few
notebook actions the tests need. Selectors lean on stable hooks: Lumino menu items by their
``data-command``, the notebook toolbar's execution indicator by its ``data-status``, ipywidgets
by their ``widget-*`` classes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 1000}

# Settings written into the server's own settings dir: every cell stays in the DOM (so outputs
# can be counted), and no toast asks to fetch news from the internet.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
# Removed from the server's environment: the notebooks must run offline, and figures must be
# captured inline by the kernel's own backend.
SCRUBBED_ENV = ("ANTHROPIC_API_KEY", "MPLBACKEND")

NOTEBOOK = ".jp-NotebookPanel"
KERNEL_IDLE = f'{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status="idle"]'
DIALOG = ".jp-Dialog"
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
EXPLORER_LINE = re.compile(rf"Accepted exponents a in \(1-p\)\^-a: \[\s*({NUMBER})\s*,\s*({NUMBER})\s*\]")

# Reads the code cells' prompts: "[*]:" queued or running, "[3]:" done, "[ ]:" not run.
PROMPTS_JS = f"""() => Array.from(document.querySelectorAll('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim())"""
RENDERED_IMAGES_JS = f"""() => Array.from(document.querySelectorAll('{NOTEBOOK} .jp-OutputArea-output img'))
    .filter(img => img.complete && img.naturalWidth > 0).length"""


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright cannot be used on this machine; the message says why."""


@dataclass
class LabServer:
    """A running JupyterLab server: where it listens, its token, and where it logs."""

    base_url: str
    token: str
    log_path: Path

    def url(self, path: str, query: str = "") -> str:
        """Address of ``path`` on the server, with the token (and ``query``) appended."""
        extra = f"&{query}" if query else ""
        return f"{self.base_url}/{path}?token={self.token}{extra}"

    def api(self, path: str, method: str = "GET") -> object:
        """JSON answer of the server's REST API at ``/api/<path>``."""
        request = urllib.request.Request(
            f"{self.base_url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_pack(repo: Path, destination: Path) -> Path:
    """Copy the repo's ``notebooks/`` and its ``figures/`` sibling under ``destination``; return the copy
    of ``notebooks/``, the server's root (the notebooks in its folders write to ``../../figures``)."""
    for name in ("notebooks", "figures"):
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            (destination / name).mkdir(parents=True)
    return destination / "notebooks"


def _write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _kernel_pids(runtime_dir: Path) -> list[int]:
    """Processes whose command line names this server's private runtime dir: its kernels."""
    marker = str(runtime_dir).encode()
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def _stop(process: subprocess.Popen, server: LabServer, runtime_dir: Path) -> None:
    """Shut kernels down through the API, terminate the server's process group, then kill leftovers."""
    try:
        for kernel in server.api("kernels"):
            server.api(f"kernels/{kernel['id']}", method="DELETE")
    except (OSError, ValueError):
        pass  # the server may already be gone; the signals below still apply
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=grace)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    # Kernels run in sessions of their own, outside the server's process group.
    for pid in _kernel_pids(runtime_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def jupyter_lab(root_dir: Path, state_dir: Path, *, startup_timeout: float = 90) -> Iterator[LabServer]:
    """Run JupyterLab from this interpreter's environment, serving ``root_dir`` on 127.0.0.1.

    Config, data, runtime, settings and workspaces live under ``state_dir``; the server's output
    goes to ``state_dir/jupyterlab.log``. The server and its kernels are stopped on exit, whatever
    happened inside the block.
    """
    dirs = {name: state_dir / name for name in ("config", "data", "runtime", "settings", "workspaces")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _write_lab_settings(dirs["settings"])
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env |= {
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
    }
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    server = LabServer(f"http://127.0.0.1:{port}", token, state_dir / "jupyterlab.log")
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(process, server, startup_timeout)
        yield server
    finally:
        _stop(process, server, dirs["runtime"])


def _wait_until_ready(process: subprocess.Popen, server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            server.api("status")
            return
        except (OSError, ValueError):
            time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer /api/status within {timeout:.0f}s:\n{server.log_tail()}")


@contextmanager
def chromium(profile_dir: Path) -> Iterator[BrowserContext]:
    """A headless Debian Chromium with a fresh profile in ``profile_dir``, driven by Playwright.

    Raises ``BrowserUnavailable`` (before yielding) when Chromium is not installed, Playwright does
    not import, or the browser does not start.
    """
    if not CHROMIUM.exists():
        raise BrowserUnavailable(
            f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise BrowserUnavailable(f"the playwright package does not import: {error}") from error
    with sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile_dir,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
            )
        except PlaywrightError as error:
            raise BrowserUnavailable(f"{CHROMIUM} did not start: {_launch_failure(str(error))}") from error
        try:
            yield context
        finally:
            context.close()


def _launch_failure(message: str) -> str:
    """Playwright's launch error cut to its first line and the browser's own error and exit lines."""
    lines = message.strip().splitlines()
    telling = [line.strip(" -") for line in lines[1:] if "[err]" in line or "process did exit" in line]
    return "; ".join(lines[:1] + telling[-5:])


def open_notebook(page: Page, server: LabServer, name: str, *, timeout_s: float = 60) -> None:
    """Open ``name`` alone in a reset JupyterLab workspace and wait until its kernel is connected and idle."""
    page.goto(server.url(f"lab/tree/{name}", "reset"), timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    # The toolbar's indicator reads "idle" before any kernel exists, so first ask the server
    # whether this page's kernel is connected; the indicator then goes connecting → idle.
    while not _kernel_connected(server, name):
        if page.locator(DIALOG).count():
            raise AssertionError(
                f"JupyterLab showed a dialog opening {name}: {page.locator(DIALOG).inner_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no kernel connected to {name} within {timeout_s:.0f}s:\n{server.log_tail()}"
            )
        page.wait_for_timeout(200)
    page.locator(KERNEL_IDLE).wait_for(timeout=max(deadline - time.monotonic(), 1) * 1000)


def _kernel_connected(server: LabServer, path: str) -> bool:
    for session in server.api("sessions"):
        kernel = session.get("kernel") or {}
        if (
            session["path"] == path
            and kernel.get("connections", 0) > 0
            and kernel["execution_state"] == "idle"
        ):
            return True
    return False


def run_menu_command(page: Page, menu: str, command: str) -> None:
    """Click ``menu`` in the menu bar, then its item bound to the JupyterLab ``command`` id."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def clear_outputs(page: Page) -> None:
    """Edit → Clear Outputs of All Cells: saved outputs and execution counts are gone."""
    run_menu_command(page, "Edit", "editmenu:clear-all")
    page.wait_for_function(f"() => ({PROMPTS_JS})().every(p => p === '[ ]:')")


def run_all_cells(page: Page, *, timeout_s: float = 60) -> None:
    """Run → Run All, then wait until execution has stopped and the kernel is idle.

    Fails, quoting the notebook's error output, if a cell did not run (Run All stops at an error).
    """
    run_menu_command(page, "Run", "runmenu:run-all")
    deadline = time.monotonic() + timeout_s
    # Outputs were cleared, so every prompt starts blank; Run All marks all queued cells "[*]:".
    prompts = page.evaluate(PROMPTS_JS)
    while all(p == "[ ]:" for p in prompts) or "[*]:" in prompts or not page.locator(KERNEL_IDLE).count():
        if time.monotonic() > deadline:
            raise AssertionError(f"Run All did not finish within {timeout_s:.0f}s; prompts {prompts}")
        page.wait_for_timeout(200)
        prompts = page.evaluate(PROMPTS_JS)
    if not all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in prompts):
        errors = page.locator(
            f'{NOTEBOOK} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        details = "\n".join(errors.all_inner_texts())[-3000:]
        raise AssertionError(f"Run All stopped early (prompts {prompts}):\n{details}")


def widget_slider(page: Page, description: str) -> Locator:
    """The ipywidgets slider whose description label reads exactly ``description``."""
    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    return page.locator(".widget-slider", has=label)


def cell_output(page: Page, inner: Locator) -> Locator:
    """The output area of the code cell that holds ``inner``."""
    return page.locator(".jp-CodeCell", has=inner).locator(".jp-Cell-outputArea")


def slider_value(slider: Locator) -> float:
    """The slider's value as its readout shows it (the handle's ARIA value is rounded)."""
    return float(slider.locator(".widget-readout").text_content())


def nudge_slider(slider: Locator, key: str, presses: int, *, timeout_s: float = 10) -> float:
    """Focus the slider's handle, press ``key`` (e.g. ``ArrowRight``) ``presses`` times, and return
    the new value once the readout shows a change (the old value if it never does)."""
    old = slider_value(slider)
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    deadline = time.monotonic() + timeout_s
    while (value := slider_value(slider)) == old and time.monotonic() < deadline:
        slider.page.wait_for_timeout(100)
    return value


def accepted_interval(text: str) -> tuple[float, float] | None:
    """``(LO, HI)`` from the explorer's ``Accepted exponents a in (1-p)^-a: [LO, HI]`` line, if present."""
    match = EXPLORER_LINE.search(text)
    return (float(match[1]), float(match[2])) if match else None


def wait_for_interval(
    page: Page, output: Locator, *, differs_from: tuple[float, float] | None = None, timeout_s: float = 20
) -> tuple[float, float]:
    """The accepted interval printed in ``output``, once it differs from ``differs_from`` and is settled."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = output.inner_text()
        interval = accepted_interval(text)
        if interval is not None and interval != differs_from and page.locator(KERNEL_IDLE).count():
            # Read again after a pause: a callback still in flight would change the output.
            page.wait_for_timeout(300)
            if accepted_interval(output.inner_text()) == interval and page.locator(KERNEL_IDLE).count():
                return interval
        page.wait_for_timeout(100)
    want = "a new interval" if differs_from else "an interval"
    raise AssertionError(f"the explorer printed no {want} within {timeout_s:.0f}s; its output reads:\n{text}")


def rendered_image_count(page: Page) -> int:
    """How many ``img`` elements in the notebook's output areas have loaded with a non-zero width."""
    return page.evaluate(RENDERED_IMAGES_JS)


def wait_for_rendered_images(page: Page, at_least: int, *, timeout_s: float = 20) -> int:
    """How many output images have rendered, once there are ``at_least`` or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while (count := rendered_image_count(page)) < at_least and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    return count
