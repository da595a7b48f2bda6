"""The notebooks in JupyterLab, in a real browser: variance-dropout's tolerance explorer responds and
its derivation's plots render.

Drives Debian's Chromium (/usr/bin/chromium, installed by `.ci/run`) with Playwright against a
JupyterLab server started from this environment on a copy of notebooks/ and figures/. Skipped,
with the reason, when Chromium or Playwright is unavailable; a missing notebook is a failure.
Screenshots go to each test's tmp_path; their paths are printed (`pytest -s` or `-rP` shows them).
"""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from browser_support import (
    NOTEBOOK,
    BrowserUnavailable,
    LabServer,
    cell_output,
    chromium,
    clear_outputs,
    copy_pack,
    jupyter_lab,
    nudge_slider,
    open_notebook,
    rendered_image_count,
    run_all_cells,
    slider_value,
    wait_for_interval,
    wait_for_rendered_images,
    widget_slider,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
DERIVATION_NOTEBOOK = "variance_dropout/01_derivation.ipynb"
TASK_NOTEBOOK = "variance_dropout/02_task_and_grader.ipynb"
RUN_ALL_TIMEOUT_S = 90
SLIDER_PRESSES = 5


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium context, or a skip saying why there is none."""
    stack = ExitStack()
    try:
        context = stack.enter_context(chromium(tmp_path_factory.mktemp("chromium-profile")))
    except BrowserUnavailable as reason:
        pytest.skip(f"browser tests need Chromium and Playwright: {reason}")
    with stack:
        yield context


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[LabServer]:
    """JupyterLab serving a throwaway copy of the pack's notebooks (and figures/ beside them)."""
    workdir = tmp_path_factory.mktemp("jupyterlab")
    with jupyter_lab(copy_pack(REPO, workdir / "pack"), workdir / "state") as server:
        yield server


@pytest.fixture
def page(browser, lab, tmp_path):
    """A fresh tab; its last state is saved as tmp_path/last.png, whatever the outcome."""
    from playwright.sync_api import Error as PlaywrightError

    tab = browser.new_page()
    yield tab
    try:
        screenshot(tab, tmp_path / "last.png")
    except PlaywrightError as error:
        print(f"no final screenshot: {error}")
    tab.close()


def require_notebook(name: str) -> None:
    if not (REPO / "notebooks" / name).is_file():
        pytest.fail(f"notebooks/{name} is missing: the browser test opens it in JupyterLab")


def screenshot(tab, path: Path) -> Path:
    tab.screenshot(path=path)
    print(f"screenshot: {path}")
    return path


def test_tolerance_explorer_widens_accepted_exponents_as_tolerance_grows(page, lab, tmp_path):
    require_notebook(TASK_NOTEBOOK)
    open_notebook(page, lab, TASK_NOTEBOOK)
    clear_outputs(page)
    run_all_cells(page, timeout_s=RUN_ALL_TIMEOUT_S)

    slider = widget_slider(page, "tolerance")
    assert slider.count() == 1, f"expected one slider described 'tolerance', found {slider.count()}"
    output = cell_output(page, slider)
    output.scroll_into_view_if_needed()
    before = wait_for_interval(page, output)
    tolerance_before = slider_value(slider)
    screenshot(page, tmp_path / "explorer_before.png")

    tolerance_after = nudge_slider(slider, "ArrowRight", SLIDER_PRESSES)
    assert tolerance_after > tolerance_before, (
        f"the tolerance slider stayed at {tolerance_before} after {SLIDER_PRESSES} ArrowRight presses"
    )
    after = wait_for_interval(page, output, differs_from=before)
    screenshot(page, tmp_path / "explorer_after.png")

    assert after[0] < before[0] and before[1] < after[1], (
        f"tolerance {tolerance_before} -> {tolerance_after}: accepted exponents {before} -> {after}, "
        "expected the new interval to strictly contain the old"
    )


def test_derivation_plots_render_in_jupyterlab(page, lab, tmp_path):
    require_notebook(DERIVATION_NOTEBOOK)
    open_notebook(page, lab, DERIVATION_NOTEBOOK)
    clear_outputs(page)
    assert rendered_image_count(page) == 0, "saved outputs survived Clear Outputs of All Cells"
    run_all_cells(page, timeout_s=RUN_ALL_TIMEOUT_S)

    count = wait_for_rendered_images(page, 3)
    images = page.locator(f"{NOTEBOOK} .jp-OutputArea-output img")
    if images.count():
        images.first.scroll_into_view_if_needed()
    screenshot(page, tmp_path / "derivation_plots.png")
    assert count >= 3, (
        f"{count} plot image(s) rendered in {DERIVATION_NOTEBOOK}'s outputs, expected at least 3"
    )
