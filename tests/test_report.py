"""The run report of an offline calibration: every failure category with an example diff, its
failing check and the model's last text; counts equal to the summary's; the scripted-policy notice
on every section header; limits and errors; untrusted text escaped; the HTML page self-contained,
and rendered in headless Chromium (browser test, screenshot saved in its tmp dir)."""

import asyncio
import json
import re
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import mistune
import pytest
from tasks.variance_dropout.task_files import TASK

from task_lib.agent.backends import open_backend
from task_lib.agent.loop import TRANSCRIPT_FILE, WORKSPACE_DIR
from task_lib.calibration.report import (
    SCRIPTED_NOTICE,
    build_report,
    check_text,
    figure_pngs,
    last_text,
    render_html,
    render_markdown,
    report_markdown,
    write_report,
)
from task_lib.calibration.runs import (
    RUN_FILE,
    CalibrationError,
    attempt_dir,
    load_attempts,
    load_summary,
    run_calibration,
)
from task_lib.calibration.stats import wilson_interval
from task_lib.cli import main

GRADE_SEED = 1234
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def calibrate(run_dir: Path, model: str, runs: int) -> dict:
    async def run():
        async with open_backend("offline") as backend:
            return await run_calibration(backend, model, run_dir, runs, concurrency=4, grade_seed=GRADE_SEED)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def mix_run(tmp_path_factory):
    """Ten attempts of the calibration mix: 3 pass, 7 fail in four categories."""
    run_dir = tmp_path_factory.mktemp("report") / "mix"
    return run_dir, calibrate(run_dir, "scripted:mix", 10)


@pytest.fixture(scope="module")
def mix_pages(mix_run):
    """The mix run's report as data, Markdown (figures as data URIs) and HTML."""
    run_dir, _ = mix_run
    report = build_report(run_dir)
    pngs = figure_pngs(report)
    return report, render_markdown(report, {name: f"{name}.png" for name in pngs}), render_html(report, pngs)


def markdown_section(markdown: str, heading: str) -> str:
    """The text under the heading that starts with `heading`, up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    start = markdown.index(heading)
    following = re.search(rf"^{re.escape(level)} ", markdown[start + len(heading):], re.MULTILINE)
    return markdown[start: start + len(heading) + following.start()] if following else markdown[start:]


def html_section(page: str, heading: str) -> str:
    """The HTML from the <h3> starting with `heading` to the next <h2> or <h3>."""
    start = page.index(f"<h3>{heading}")
    following = re.search(r"<h[23][ >]", page[start + 4:])
    return page[start: start + 4 + following.start()] if following else page[start:]


def changed_lines(diff_text: str) -> list[str]:
    return [line for line in diff_text.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_every_failure_category_appears_with_an_example_diff(mix_run, mix_pages):
    _, summary = mix_run
    _, markdown, page = mix_pages
    assert set(summary["failures"]) == {"variance_ratio", "shape_and_dtype", "test_file_unchanged",
                                        "eval_identity"}
    for category in summary["failures"]:
        section = markdown_section(markdown, f"### Failure category `{category}`")
        diffs = re.findall(r"```diff\n(.*?)\n```", section, re.DOTALL)
        assert any(d.startswith("--- a/") and "\n+++ b/" in d and changed_lines(d) for d in diffs), category
        assert "- failing check: `" + category in section, category
        html_part = html_section(page, f"Failure category <code>{category}</code>")
        assert '<span class="head">--- a/' in html_part and '<span class="head">+++ b/' in html_part
        assert re.search(r'<span class="(add|del)">[+-]', html_part), category


def test_a_changed_test_file_is_diffed_as_a_protected_file(mix_pages):
    _, markdown, _ = mix_pages
    section = markdown_section(markdown, "### Failure category `test_file_unchanged`")
    diff = re.search(r"```diff\n(--- a/test_dropout.py\n.*?)\n```", section, re.DOTALL)
    assert diff and any(line.startswith("-def test_drops_about_p_of_the_elements")
                        for line in changed_lines(diff[1]))


def test_counts_and_intervals_match_the_summary(mix_run, mix_pages):
    run_dir, summary = mix_run
    report, markdown, _ = mix_pages
    assert report.summary == summary == load_summary(run_dir)
    assert {g.name: g.count for g in report.outcomes} == summary["outcomes"]
    assert {g.name: g.count for g in report.failures} == summary["failures"]
    for group in report.outcomes + report.failures:
        assert group.interval == wilson_interval(group.count, summary["runs"])
        assert sum(1 for _ in group.indices) == group.count and len(group.examples) <= 3
    for name, count in summary["outcomes"].items():
        assert f"| `{name}` | {count} | {count}/{summary['runs']} = " in markdown
    low, high = summary["ci95"]
    assert f"Passed 3/10 = 30% (95% CI {low:.0%}–{high:.0%})" in markdown


def test_the_failing_check_shows_its_measured_value_and_threshold(mix_run, mix_pages):
    run_dir, _ = mix_run
    report, _, _ = mix_pages
    group = next(g for g in report.failures if g.name == "variance_ratio")
    for example in group.examples:
        record = json.loads((attempt_dir(run_dir, example.index) / "attempt.json").read_text())
        first_failed = next(c for c in record["grade"]["checks"] if c["name"] == "variance_ratio"
                            and not c["passed"])
        assert example.failing_check == first_failed
        assert f"measured {first_failed['value']:.6g}, required [0.9, 1.1]" in check_text(first_failed)


def test_the_model_last_text_is_its_last_response_text(mix_run, mix_pages):
    run_dir, _ = mix_run
    _, markdown, _ = mix_pages
    give_up = next(r.index for r in load_attempts(run_dir) if r.model == "scripted:give_up")
    assert last_text(attempt_dir(run_dir, give_up) / TRANSCRIPT_FILE) == \
        "I can't tell what the right change is, so I'll stop here."
    assert "The model's last text:\n\n```\nSubmitting my work.\n```" in markdown


def test_the_scripted_notice_is_on_every_section_header(mix_pages):
    report, markdown, page = mix_pages
    headings = [line for line in markdown.splitlines() if line.startswith(("# ", "## ", "### "))]
    assert len(headings) >= 8 and all(SCRIPTED_NOTICE in line for line in headings)
    html_headings = re.findall(r"<h[123]>.*?</h[123]>", page)
    assert len(html_headings) == len(headings) and all(SCRIPTED_NOTICE in h for h in html_headings)
    assert SCRIPTED_NOTICE in re.search(r"<title>(.*)</title>", page)[1]


def test_a_model_run_carries_no_scripted_notice(mix_run, tmp_path):
    run_dir, _ = mix_run
    copy = tmp_path / "model-run"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / RUN_FILE).read_text())
    config.update(backend="anthropic", model="claude-haiku-4-5", label="Anthropic API")
    (copy / RUN_FILE).write_text(json.dumps(config))
    report = build_report(copy)
    assert not report.scripted
    assert SCRIPTED_NOTICE not in render_markdown(report, {})
    assert SCRIPTED_NOTICE not in render_html(report, {})


@pytest.mark.parametrize(("model", "section", "cause"), [
    ("scripted:overlong", "### Limit `max_tokens`", "limit (max\\_tokens) after 1 steps"),
    ("scripted:malformed_body", "### Error `malformed response from the API`", "JSONDecodeError"),
])
def test_limits_and_errors_have_a_section_with_their_cause(tmp_path, model, section, cause):
    summary = calibrate(tmp_path / "run", model, 1)
    markdown = (write_report(tmp_path / "run")).read_text()
    assert "No attempt hit a limit or met an error." not in markdown
    part = markdown_section(markdown, section)
    assert cause in part and "#### Attempt 0" in part and SCRIPTED_NOTICE in part.splitlines()[0]
    assert summary["outcomes"]["passed"] + summary["outcomes"]["failed"] == 0
    assert "its final workspace fails: `variance_ratio" in part  # graded anyway, but not its outcome


def test_the_mix_run_says_it_had_no_limit_or_error(mix_pages):
    _, markdown, _ = mix_pages
    assert "No attempt hit a limit or met an error." in markdown_section(markdown, "## Limits and errors")


def test_untrusted_text_is_escaped(mix_run, tmp_path):
    run_dir, _ = mix_run
    copy = tmp_path / "hostile"
    shutil.copytree(run_dir, copy)
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> ``` [link](javascript:x)"
    with open(copy / "attempts" / "0005" / WORKSPACE_DIR / "dropout.py", "a") as handle:
        handle.write(f"# {hostile}\n")
    transcript = copy / "attempts" / "0005" / TRANSCRIPT_FILE
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    response = [e for e in events if e["kind"] == "response"][-1]
    response["content"] = [{"type": "text", "text": hostile}]
    transcript.write_text("".join(json.dumps(e) + "\n" for e in events))
    report = build_report(copy)
    page = render_html(report, {})
    assert "<script>" not in page and "<img src=x" not in page and "&lt;script&gt;alert(1)" in page
    markdown = render_markdown(report, {})
    assert f"````\n{hostile}\n````" in markdown  # the model's text, fenced longer than its own fence
    rendered = mistune.html(markdown)  # a renderer that passes raw HTML through, as notebooks do
    assert "<script" not in rendered and "<img src=x" not in rendered and "href=\"javascript" not in rendered
    assert rendered.count("&lt;script&gt;alert(1)") == 2  # the diff's line and the model's text


def test_the_html_report_is_self_contained(mix_pages):
    _, _, page = mix_pages
    assert not re.search(r"""(src|href)\s*=\s*(?!["']?data:)""", page)
    assert "<link" not in page and "<script" not in page
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+">', page)
    assert len(images) == 2


def test_make_run_report_writes_markdown_and_figures_beside_it(mix_run, tmp_path, capsys):
    run_dir, _ = mix_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    assert main(["report", str(copy)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(copy / "report.md"))
    markdown = (copy / "report.md").read_text()
    for name in ("report-pass-rate.png", "report-outcomes.png"):
        assert f"]({name})" in markdown
        assert (copy / name).read_bytes().startswith(PNG_SIGNATURE)


def test_report_markdown_embeds_its_figures_for_a_notebook(mix_run):
    run_dir, _ = mix_run
    markdown = report_markdown(run_dir)
    assert markdown.count("](data:image/png;base64,") == 2 and "## Why attempts failed" in markdown


def test_another_task_or_version_is_refused_in_one_line(mix_run, tmp_path, capsys):
    run_dir, _ = mix_run
    with pytest.raises(CalibrationError, match="not other-task version"):
        build_report(run_dir, replace(TASK, name="other-task"))
    copy = tmp_path / "old"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / RUN_FILE).read_text())
    (copy / RUN_FILE).write_text(json.dumps({**config, "task_version": "000000000000"}))
    assert main(["report", str(copy)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "version 000000000000" in error
    assert main(["report", str(run_dir), "--task", "no-such-task"]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["report", str(run_dir), "--out", str(tmp_path / "report.pdf")]) == 2
    assert ".md or .html" in capsys.readouterr().err and not (tmp_path / "report.pdf").exists()


# ---- in a browser -------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.browser
def test_the_html_report_renders_in_headless_chromium(mix_run, tmp_path):
    from browser_support import BrowserUnavailable, chromium

    run_dir, summary = mix_run
    path = write_report(run_dir, tmp_path / "report.html")
    try:
        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            rendered = page.evaluate(
                "() => Array.from(document.images).filter(image => image.naturalWidth > 0).length")
            headings = page.locator("h2").all_inner_texts()
            diffs = page.locator("pre.diff").count()
            shot = tmp_path / "report.png"
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot: {shot}")
    except BrowserUnavailable as reason:
        pytest.skip(f"the browser test needs Chromium and Playwright: {reason}")
    assert rendered == 2
    assert headings and all(SCRIPTED_NOTICE in heading for heading in headings)
    assert diffs >= len(summary["failures"])
    data = shot.read_bytes()
    width, height = png_size(data)
    assert width >= 1000 and height > 3000 and len(data) > 50_000
