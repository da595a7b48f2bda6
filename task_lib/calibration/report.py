"""Why the attempts of a calibration run ended as they did: the run report.

`build_report(run_dir)` reads a saved run (any task) and returns a `RunReport`: the run's summary
(pass rate, Wilson interval, band verdict, tokens, cost), and for every outcome, failure category,
limit and error cause a `Group` with its count, its share of the run's attempts with a 95% Wilson
interval, and up to three `Example`s. An example is one attempt: the unified diff of its final
solution files (and of protected files it changed) against the task's starting files, the check it
failed (measured value against threshold), and the model's last text. `render_markdown` and
`render_html` turn a report into a page; `write_report` writes one (figures beside a Markdown file,
embedded in an HTML one) and `report_markdown` returns the Markdown a notebook displays.

Everything an attempt produced (files, model text, error messages, even check values) is untrusted:
Markdown puts it in code fences or escapes it, HTML escapes all of it. The HTML page is self-contained.
A run of the offline backend says, on every section header, that its attempts are scripted policies.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from task_lib.agent.loop import OUTCOMES, TRANSCRIPT_FILE, WORKSPACE_DIR, AttemptRecord
from task_lib.agent.transcript import fenced, read_transcript
from task_lib.calibration.runs import (
    CalibrationError,
    RunConfig,
    attempt_dir,
    load_attempts,
    load_config,
    summarize,
    task_of_run,
)
from task_lib.calibration.stats import wilson_interval
from task_lib.grading.grade_tables import format_measurement
from task_lib.offline.policy_kit import OFFLINE_LABEL
from task_lib.sandbox.untrusted_files import read_untrusted_file
from task_lib.task import Task

EXAMPLES_PER_GROUP = 3
MAX_FILE_BYTES = 1_000_000  # a final file larger than this is not diffed
MAX_DIFF_LINES = 150
MAX_TEXT_CHARS = 2_000
MAX_VALUE_CHARS = 300
SCRIPTED_NOTICE = "scripted policies, not a model"
OFFLINE_NOTICE = (f"Offline run: every attempt below was played by {SCRIPTED_NOTICE}. Its pass rate measures "
                  "the harness, not any model.")
REPORT_FORMATS = (".md", ".html")
FIGURES = {"pass-rate": "Pass rate in the target band", "outcomes": "Outcomes and failure categories"}


# ---- the report as data -------------------------------------------------------------------------


@dataclass
class FileChange:
    """One graded file of an attempt's final workspace against the task's starting file."""

    name: str
    diff: str  # unified diff, "" when unchanged
    note: str = ""  # why there is no diff (missing, unreadable, too large) or that it was cut


@dataclass
class Example:
    """One attempt, as the report shows it."""

    index: int
    model: str
    outcome: str
    summary: str  # AttemptRecord.describe()
    changes: list[FileChange]
    new_files: list[str]
    failing_check: dict[str, Any] | None
    grade_message: str
    last_text: str
    error: str | None
    steps: int
    tokens: int
    cost_usd: float | None
    same_change: list[int] = field(default_factory=list)  # other attempts of the group with this diff

    @property
    def changed(self) -> bool:
        return any(change.diff or change.note for change in self.changes)


@dataclass
class Group:
    """The attempts of one outcome, failure category, limit or error cause."""

    kind: str  # "outcome", "failure", "limit" or "error"
    name: str
    count: int
    total: int  # the run's recorded attempts: the share's denominator
    interval: tuple[float, float]
    indices: list[int]
    examples: list[Example]
    clause: str = ""  # for a failure category: the prompt's sentence announcing its check
    unchanged: int = 0  # attempts of the group whose graded files are the starting files


@dataclass
class RunReport:
    """Everything the report shows about one run."""

    run_dir: str
    config: RunConfig
    summary: dict[str, Any]
    outcomes: list[Group]
    failures: list[Group]
    limits: list[Group]
    errors: list[Group]
    by_outcome: dict[str, dict[str, Any]]  # outcome -> attempts, steps, tokens, cost

    @property
    def scripted(self) -> bool:
        """The attempts were played by the offline server's scripted policies, not by a model."""
        return self.config.backend == "offline" or self.config.label == OFFLINE_LABEL


# ---- reading a run ------------------------------------------------------------------------------


def build_report(run_dir: Path | str, task: Task | None = None) -> RunReport:
    """The report of the run saved in `run_dir`. CalibrationError (one line) when there is no run
    there, or when `task` (default: the run's own, as registered now) is another task or version."""
    config = load_config(run_dir)
    task = task_of_run(config, task)
    records = load_attempts(run_dir)
    summary = summarize(records, config, run_dir)
    examples = {record.index: read_example(run_dir, record, task) for record in records}
    total = len(records)

    def groups(kind: str, key: Callable[[AttemptRecord], str | None], order: Iterable[str]) -> list[Group]:
        members: dict[str, list[AttemptRecord]] = {name: [] for name in order}
        for record in records:
            name = key(record)
            if name is not None:
                members.setdefault(name, []).append(record)
        return [make_group(kind, name, chosen, total, examples, task) for name, chosen in members.items()]

    return RunReport(
        run_dir=str(run_dir), config=config, summary=summary,
        outcomes=groups("outcome", lambda r: r.outcome, OUTCOMES),
        failures=groups("failure", lambda r: r.failure if r.outcome == "failed" else None,
                        summary["failures"]),
        limits=groups("limit", lambda r: r.limit if r.outcome == "limit" else None, summary["limits"]),
        errors=groups("error", lambda r: error_cause(r.error) if r.outcome == "error" else None,
                      summary["errors"]),
        by_outcome=usage_by_outcome(records),
    )


def error_cause(error: str | None) -> str:
    """The cause an error is counted under (as the run's summary counts it)."""
    return (error or "unknown").split(":")[0]


def make_group(kind: str, name: str, records: list[AttemptRecord], total: int,
               examples: Mapping[int, Example], task: Task) -> Group:
    """A group with up to EXAMPLES_PER_GROUP examples: one per distinct change, changed files first."""
    by_diff: dict[tuple[str, ...], list[Example]] = {}
    for record in records:
        example = examples[record.index]
        by_diff.setdefault(tuple(c.diff + c.note for c in example.changes), []).append(example)
    ordered = sorted(by_diff.values(), key=lambda same: (not same[0].changed, -len(same), same[0].index))
    chosen = []
    for same in ordered[:EXAMPLES_PER_GROUP]:
        same[0].same_change = [example.index for example in same[1:]]
        chosen.append(same[0])
    unchanged = sum(len(same) for same in by_diff.values() if not same[0].changed)
    return Group(kind, name, len(records), total, wilson_interval(len(records), total),
                 [record.index for record in records], chosen, clause_of(records, name) if kind == "failure"
                 else "", unchanged)


def clause_of(records: list[AttemptRecord], category: str) -> str:
    """The prompt sentence of the check a failure category names, as the grades recorded it."""
    for record in records:
        check = failing_check(record)
        if check and check.get("name") == category and check.get("clause"):
            return str(check["clause"])
    return ""


def read_example(run_dir: Path | str, record: AttemptRecord, task: Task) -> Example:
    """One attempt read from its directory: its changes, its failing check, its last text."""
    directory = attempt_dir(run_dir, record.index)
    workspace = directory / WORKSPACE_DIR
    grade = record.grade or {}
    usage = record.usage or {}
    return Example(
        index=record.index, model=record.model, outcome=record.outcome, summary=record.describe(),
        changes=file_changes(workspace, task), new_files=new_files(workspace, task),
        failing_check=failing_check(record), grade_message=str(grade.get("message") or ""),
        last_text=last_text(directory / TRANSCRIPT_FILE), error=record.error, steps=record.steps,
        tokens=sum(v for v in usage.values() if isinstance(v, int)), cost_usd=record.cost_usd,
    )


def failing_check(record: AttemptRecord) -> dict[str, Any] | None:
    """The check that decided a failed grade: the first failed check named by the failure category,
    else the first failed check; None when the grade failed none (or there is no grade)."""
    grade = record.grade or {}
    checks = [c for c in grade.get("checks", []) if isinstance(c, dict) and not c.get("passed")]
    category = grade.get("failure")
    return next((c for c in checks if c.get("name") == category), checks[0] if checks else None)


def file_changes(workspace: Path, task: Task) -> list[FileChange]:
    """The solution files, and the protected files that changed, against the task's starting files."""
    changes = [file_change(workspace, task, name) for name in task.solution_files]
    for name in task.protected_files:
        if name not in task.solution_files:
            change = file_change(workspace, task, name)
            if change.diff or change.note:
                changes.append(change)
    return changes


def file_change(workspace: Path, task: Task, name: str) -> FileChange:
    """One file of the final workspace against the task's starting version (empty when it has none)."""
    start = task.starting_text(name) if name in task.starting_files else ""
    path = workspace / name
    if not path.exists() and not path.is_symlink():
        return FileChange(name, "", "missing from the final workspace")
    data = read_untrusted_file(path, MAX_FILE_BYTES)
    if data is None:
        return FileChange(name, "", f"not diffed: not a regular file, or over {MAX_FILE_BYTES:,} bytes")
    final = data.decode("utf-8", errors="replace")
    lines = list(difflib.unified_diff(start.splitlines(), final.splitlines(), f"a/{name}", f"b/{name}",
                                      lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        return FileChange(name, "\n".join(lines[:MAX_DIFF_LINES]),
                          f"diff cut: {len(lines) - MAX_DIFF_LINES:,} more lines in {path}")
    if not lines and start != final:  # only line endings or a final newline differ
        return FileChange(name, "", "changed only in line endings or the final newline")
    return FileChange(name, "\n".join(lines))


def new_files(workspace: Path, task: Task) -> list[str]:
    """Files of the final workspace that the task did not start with."""
    if not workspace.is_dir():
        return []
    return sorted(item.name for item in workspace.iterdir() if item.name not in task.starting_files)


def last_text(transcript: Path) -> str:
    """The text of the model's last response that had any (cut to MAX_TEXT_CHARS); "" when none."""
    try:
        events = read_transcript(transcript)
    except (OSError, ValueError):
        return ""
    for event in reversed(events):
        if event.get("kind") != "response":
            continue
        texts = [str(block.get("text")) for block in event.get("content") or []
                 if isinstance(block, dict) and block.get("type") == "text"]
        if any(text.strip() for text in texts):
            return cut("\n\n".join(text for text in texts if text.strip()), MAX_TEXT_CHARS)
    return ""


def cut(text: str, chars: int) -> str:
    """`text`, or its first `chars` characters and how many more there were."""
    return text if len(text) <= chars else text[:chars] + f"\n… ({len(text) - chars:,} more characters)"


def usage_by_outcome(records: list[AttemptRecord]) -> dict[str, dict[str, Any]]:
    """Per outcome: attempts, mean steps, input and output tokens, cost (None when any is unpriced)."""
    table = {}
    for outcome in OUTCOMES:
        chosen = [r for r in records if r.outcome == outcome]
        costs = [r.cost_usd for r in chosen]
        table[outcome] = {
            "attempts": len(chosen),
            "mean_steps": sum(r.steps for r in chosen) / len(chosen) if chosen else None,
            "input_tokens": sum((r.usage or {}).get("input_tokens", 0) for r in chosen),
            "output_tokens": sum((r.usage or {}).get("output_tokens", 0) for r in chosen),
            "cost_usd": None if None in costs else float(sum(costs)),
        }
    return table


# ---- words shared by both renderings -------------------------------------------------------------


def rate_text(count: int, total: int, interval: tuple[float, float]) -> str:
    share = count / total if total else 0.0
    return f"{count}/{total} = {share:.0%} (95% CI {interval[0]:.0%}–{interval[1]:.0%})"


def verdict_text(summary: Mapping[str, Any]) -> str:
    band = "–".join(f"{edge:.0%}" for edge in summary["band"])
    verdict = summary["verdict"]
    if verdict == "undetermined":
        more = summary["more_runs_needed"]
        verdict += f": about {more} more graded runs would decide it" if more else ": on a band edge"
    return f"band {band}: {verdict}"


def check_text(check: Mapping[str, Any]) -> str:
    """'name at p=0.3: measured 1.43, required [0.9, 1.1]' for a failed check."""
    where = f" at p={check['p']:g}" if isinstance(check.get("p"), int | float) else ""
    measured = cut(format_measurement(check.get("value")), MAX_VALUE_CHARS)
    required = cut(format_measurement(check.get("threshold")), MAX_VALUE_CHARS)
    detail = f" ({cut(str(check['detail']), MAX_VALUE_CHARS)})" if check.get("detail") else ""
    return f"{check.get('name')}{where}: measured {measured}, required {required}{detail}"


def check_label(example: Example) -> str:
    """What a failed check means for this attempt: its failure, or only its final workspace's grade."""
    return "failing check" if example.outcome == "failed" else "its final workspace fails"


def cost_text(cost: float | None) -> str:
    return "n/a" if cost is None else f"${cost:.4f}"


GROUP_TITLES = {"outcome": "Outcome", "failure": "Failure category", "limit": "Limit", "error": "Error"}


def run_line(report: RunReport) -> str:
    s = report.summary
    setting = ", ".join(f"{name} {value:g}" for name, value in s["params"].items())
    return (f"{s['runs']} of {s['requested']} requested attempts of {s['model']} on {s['backend']} "
            f"({s['label']}); task {s['task']} version {s['task_version']}"
            + (f", {setting}" if setting else "") + (f"; started {report.config.started}"
                                                      if report.config.started else ""))


def attempts_text(indices: list[int]) -> str:
    """'attempt 3' or 'attempts 4, 5, 9'."""
    return ("attempt " if len(indices) == 1 else "attempts ") + ", ".join(str(i) for i in indices)


def same_change_text(example: Example) -> str:
    return f" (the same change: {attempts_text(example.same_change)})" if example.same_change else ""


def usage_text(s: Mapping[str, Any]) -> str:
    u = s["usage"]
    return (f"{u['input_tokens']:,} input and {u['output_tokens']:,} output tokens "
            f"({u['cache_creation_input_tokens']:,} cache write, {u['cache_read_input_tokens']:,} cache "
            "read); "
            f"cost {cost_text(s['cost_usd'])} ({s['price_note']}); {s['mean_steps']} steps per attempt "
            "on average.")


# ---- figures ------------------------------------------------------------------------------------


def figure_pngs(report: RunReport) -> dict[str, bytes]:
    """The headline figures as PNG bytes (no pass-rate figure when nothing was graded)."""
    import matplotlib.pyplot as plt

    from task_lib.calibration.run_plots import FIGURE_DPI, plot_outcomes, plot_pass_rate_in_band

    s = report.summary
    source = f"{s['model']} on {s['backend']} ({s['label']})"
    graded = s["runs"] - s["outcomes"]["error"]
    figures = {}
    if graded:
        figures["pass-rate"] = plot_pass_rate_in_band(s["outcomes"]["passed"], graded, tuple(s["ci95"]),
                                                      tuple(s["band"]), s["verdict"], source)
    figures["outcomes"] = plot_outcomes(s["outcomes"], s["failures"], source)
    pngs = {}
    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        pngs[name] = buffer.getvalue()
    return pngs


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---- Markdown -----------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: Any) -> str:
    """Untrusted text as inert Markdown prose: one line, HTML escaped, Markdown syntax backslashed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def md_code(text: Any, in_table: bool = False) -> str:
    """Untrusted text as a Markdown code span (shown literally), on one line; `|` escaped in a table."""
    one_line = " ".join(str(text).split())
    ticks = "`" * (max((len(run) for run in re.findall("`+", one_line)), default=0) + 1)
    padded = f" {one_line} " if "`" in one_line else one_line
    return ticks + (padded.replace("|", "\\|") if in_table else padded) + ticks


def render_markdown(report: RunReport, images: Mapping[str, str]) -> str:
    """The report as Markdown; `images` maps a figure name (see FIGURES) to the address to show."""
    tag = f" ({SCRIPTED_NOTICE})" if report.scripted else ""
    s = report.summary
    graded = s["runs"] - s["outcomes"]["error"]
    out = [f"# Run report: {md_text(s['task'])}{tag}", ""]
    if report.scripted:
        out += [f"> **{OFFLINE_NOTICE}**", ""]
    out += [md_text(run_line(report)), "", f"Run directory: {md_code(report.run_dir)}", ""]
    if s["stopped"]:
        out += [f"**The run stopped early:** {md_text(s['stopped'])}", ""]

    out += [f"## Pass rate{tag}", ""]
    out += [f"Passed {rate_text(s['outcomes']['passed'], graded, tuple(s['ci95']))} of the graded attempts "
            f"(errors are left out of the denominator); {verdict_text(s)}.", ""]
    out += _md_images(images, ["pass-rate"])

    out += [f"## Outcomes{tag}", ""] + _md_group_table(report.outcomes, "outcome") + [""]
    out += _md_images(images, ["outcomes"])

    out += [f"## Why attempts failed{tag}", ""]
    if report.failures:
        out += _md_group_table(report.failures, "failure category", clause=True) + [""]
    else:
        out += ["No attempt failed.", ""]
    for group in report.failures:
        out += _md_group(group, tag)

    out += [f"## Limits and errors{tag}", ""]
    if not report.limits and not report.errors:
        out += ["No attempt hit a limit or met an error.", ""]
    if report.limits:
        out += ["A limit (steps, tokens, context, wall clock) ended these attempts before the model "
                "finished: a harness problem, reported apart from the task's failures.", ""]
        out += _md_group_table(report.limits, "limit") + [""]
    if report.errors:
        out += ["The API or the harness failed on these attempts after retries: they are left out of the "
                "pass rate's denominator.", ""]
        out += _md_group_table(report.errors, "error cause") + [""]
    for group in report.limits + report.errors:
        out += _md_group(group, tag)

    passed = [group for group in report.outcomes if group.name == "passed" and group.count]
    for group in passed:
        out += [f"## Passed attempts{tag}", ""] + _md_examples(group)

    out += [f"## Tokens and cost{tag}", ""] + _md_usage(report)
    return "\n".join(out).rstrip() + "\n"


def _md_images(images: Mapping[str, str], names: list[str]) -> list[str]:
    return [line for name in names if name in images for line in (f"![{FIGURES[name]}]({images[name]})", "")]


def _md_group_table(groups: list[Group], title: str, clause: bool = False) -> list[str]:
    head = f"| {title} | attempts | share of the run (95% CI) |"
    rows = [head + (" the prompt's sentence |" if clause else ""),
            "|---|---|---|" + ("---|" if clause else "")]
    for group in groups:
        share = rate_text(group.count, group.total, group.interval)
        row = f"| {md_code(group.name, in_table=True)} | {group.count} | {share} |"
        rows.append(row + (f" {md_text(group.clause)} |" if clause else ""))
    return rows


def _md_group(group: Group, tag: str) -> list[str]:
    out = [f"### {GROUP_TITLES[group.kind]} {md_code(group.name)}{tag}", ""]
    out += [f"{rate_text(group.count, group.total, group.interval)} of the run's attempts "
            f"({attempts_text(group.indices)}); {group.unchanged} of them left the graded files "
            "as they started.", ""]
    if group.clause:
        out += [f"The prompt announces this check as: {md_text(group.clause)}", ""]
    return out + _md_examples(group)


def _md_examples(group: Group) -> list[str]:
    out = []
    for example in group.examples:
        same = same_change_text(example)
        out += [f"#### Attempt {example.index}: {md_code(example.model)}{same}", ""]
        out += [f"- ended: {md_text(example.summary)}",
                f"- {example.tokens:,} tokens, cost {cost_text(example.cost_usd)}"]
        if example.failing_check:
            out.append(f"- {check_label(example)}: {md_code(check_text(example.failing_check))}")
        if example.error:
            out.append(f"- error: {md_code(example.error)}")
        if example.new_files:
            out.append(f"- files it added: {md_text(', '.join(example.new_files))}")
        out.append("")
        for change in example.changes:
            if change.diff:
                out += [f"Diff of {md_code(change.name)} against its starting version:", "",
                        fenced(change.diff, "diff"), ""]
            if change.note or not change.diff:
                out += [f"{md_code(change.name)}: {md_text(change.note or 'unchanged')}", ""]
        out += ["The model's last text:", "", fenced(example.last_text or "(no text)"), ""]
    return out


def _md_usage(report: RunReport) -> list[str]:
    out = [md_text(usage_text(report.summary)), "",
           "| outcome | attempts | mean steps | input tokens | output tokens | cost |",
           "|---|---|---|---|---|---|"]
    for outcome, row in report.by_outcome.items():
        steps = "–" if row["mean_steps"] is None else f"{row['mean_steps']:.1f}"
        out.append(f"| {outcome} | {row['attempts']} | {steps} | {row['input_tokens']:,} | "
                   f"{row['output_tokens']:,} | {cost_text(row['cost_usd'])} |")
    return out


# ---- HTML ---------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1, h2, h3, h4 { margin-top: 1.6em; }
.notice { background: #fff4ce; border: 2px solid #c98a00; padding: .6em 1em; font-weight: bold; }
.tag { background: #fff4ce; border: 1px solid #c98a00; border-radius: 4px; font-size: .6em;
       padding: .1em .4em; vertical-align: middle; font-weight: normal; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
pre { background: #f6f8fa; border: 1px solid #ddd; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
pre.diff span.add { color: #116329; background: #dafbe1; }
pre.diff span.del { color: #82071e; background: #ffebe9; }
pre.diff span.hunk { color: #0550ae; } pre.diff span.head { font-weight: bold; }
.example { border-left: 4px solid #ccc; padding-left: 1em; margin: 1em 0; }
img { max-width: 100%; }
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def render_html(report: RunReport, pngs: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page (figures embedded as PNG data URIs)."""
    s = report.summary
    graded = s["runs"] - s["outcomes"]["error"]
    tag = f' <span class="tag">{esc(SCRIPTED_NOTICE)}</span>' if report.scripted else ""
    title = f"Run report: {s['task']}" + (f" ({SCRIPTED_NOTICE})" if report.scripted else "")
    body = [f"<h1>{esc('Run report: ' + s['task'])}{tag}</h1>"]
    if report.scripted:
        body.append(f'<p class="notice">{esc(OFFLINE_NOTICE)}</p>')
    body += [f"<p>{esc(run_line(report))}</p>", f"<p>Run directory: <code>{esc(report.run_dir)}</code></p>"]
    if s["stopped"]:
        body.append(f"<p><strong>The run stopped early:</strong> {esc(s['stopped'])}</p>")

    body += [f"<h2>Pass rate{tag}</h2>",
             f"<p>Passed {esc(rate_text(s['outcomes']['passed'], graded, tuple(s['ci95'])))} of the graded "
             f"attempts (errors are left out of the denominator); {esc(verdict_text(s))}.</p>"]
    body += _html_images(pngs, ["pass-rate"])
    body += [f"<h2>Outcomes{tag}</h2>", _html_group_table(report.outcomes, "outcome")]
    body += _html_images(pngs, ["outcomes"])

    body.append(f"<h2>Why attempts failed{tag}</h2>")
    body.append(_html_group_table(report.failures, "failure category", clause=True) if report.failures
                else "<p>No attempt failed.</p>")
    for group in report.failures:
        body += _html_group(group, tag)

    body.append(f"<h2>Limits and errors{tag}</h2>")
    if not report.limits and not report.errors:
        body.append("<p>No attempt hit a limit or met an error.</p>")
    if report.limits:
        body += ["<p>A limit (steps, tokens, context, wall clock) ended these attempts before the model "
                 "finished: a harness problem, reported apart from the task's failures.</p>",
                 _html_group_table(report.limits, "limit")]
    if report.errors:
        body += ["<p>The API or the harness failed on these attempts after retries: they are left out of "
                 "the pass rate's denominator.</p>", _html_group_table(report.errors, "error cause")]
    for group in report.limits + report.errors:
        body += _html_group(group, tag)

    for group in report.outcomes:
        if group.name == "passed" and group.count:
            body += [f"<h2>Passed attempts{tag}</h2>"] + _html_examples(group)

    body += [f"<h2>Tokens and cost{tag}</h2>"] + _html_usage(report)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _html_images(pngs: Mapping[str, bytes], names: list[str]) -> list[str]:
    return [f'<p><img alt="{esc(FIGURES[name])}" src="{data_uri(pngs[name])}"></p>' for name in names
            if name in pngs]


def _html_group_table(groups: list[Group], title: str, clause: bool = False) -> str:
    head = f"<tr><th>{esc(title)}</th><th>attempts</th><th>share of the run (95% CI)</th>" + (
        "<th>the prompt's sentence</th>" if clause else "") + "</tr>"
    rows = [f"<tr><td><code>{esc(g.name)}</code></td><td>{g.count}</td>"
            f"<td>{esc(rate_text(g.count, g.total, g.interval))}</td>"
            + (f"<td>{esc(g.clause)}</td>" if clause else "") + "</tr>" for g in groups]
    return "<table>" + head + "".join(rows) + "</table>"


def _html_group(group: Group, tag: str) -> list[str]:
    out = [f"<h3>{esc(GROUP_TITLES[group.kind])} <code>{esc(group.name)}</code>{tag}</h3>",
           f"<p>{esc(rate_text(group.count, group.total, group.interval))} of the run's attempts "
           f"({esc(attempts_text(group.indices))}); {group.unchanged} of them left the graded files as they "
           "started.</p>"]
    if group.clause:
        out.append(f"<p>The prompt announces this check as: <em>{esc(group.clause)}</em></p>")
    return out + _html_examples(group)


def _html_diff(diff: str) -> str:
    def line(text: str) -> str:
        kind = ("head" if text.startswith(("---", "+++")) else "hunk" if text.startswith("@@")
                else "add" if text.startswith("+") else "del" if text.startswith("-") else "")
        return f'<span class="{kind}">{esc(text)}</span>' if kind else esc(text)

    return '<pre class="diff">' + "\n".join(line(text) for text in diff.split("\n")) + "</pre>"


def _html_examples(group: Group) -> list[str]:
    out = []
    for example in group.examples:
        same = esc(same_change_text(example))
        items = [f"<li>ended: {esc(example.summary)}</li>",
                 f"<li>{example.tokens:,} tokens, cost {esc(cost_text(example.cost_usd))}</li>"]
        if example.failing_check:
            items.append(f"<li>{esc(check_label(example))}: <code>{esc(check_text(example.failing_check))}"
                         "</code></li>")
        if example.error:
            items.append(f"<li>error: <code>{esc(example.error)}</code></li>")
        if example.new_files:
            items.append(f"<li>files it added: {esc(', '.join(example.new_files))}</li>")
        parts = [f'<div class="example"><h4>Attempt {example.index}: <code>{esc(example.model)}</code>'
                 f"{same}</h4>", "<ul>" + "".join(items) + "</ul>"]
        for change in example.changes:
            if change.diff:
                parts += [f"<p>Diff of <code>{esc(change.name)}</code> against its starting version:</p>",
                          _html_diff(change.diff)]
            if change.note or not change.diff:
                parts.append(f"<p><code>{esc(change.name)}</code>: {esc(change.note or 'unchanged')}</p>")
        parts += ["<p>The model's last text:</p>", f"<pre>{esc(example.last_text or '(no text)')}</pre>",
                  "</div>"]
        out += parts
    return out


def _html_usage(report: RunReport) -> list[str]:
    rows = "".join(
        f"<tr><td>{outcome}</td><td>{row['attempts']}</td>"
        f"<td>{'–' if row['mean_steps'] is None else format(row['mean_steps'], '.1f')}</td>"
        f"<td>{row['input_tokens']:,}</td><td>{row['output_tokens']:,}</td>"
        f"<td>{esc(cost_text(row['cost_usd']))}</td></tr>" for outcome, row in report.by_outcome.items())
    return [f"<p>{esc(usage_text(report.summary))}</p>",
            "<table><tr><th>outcome</th><th>attempts</th><th>mean steps</th><th>input tokens</th>"
            f"<th>output tokens</th><th>cost</th></tr>{rows}</table>"]


# ---- writing ------------------------------------------------------------------------------------


def report_markdown(run_dir: Path | str, task: Task | None = None) -> str:
    """The report of a run as Markdown with its figures embedded, for a notebook:
    `IPython.display.Markdown(report_markdown(RUN_DIR))`."""
    report = build_report(run_dir, task)
    return render_markdown(report, {name: data_uri(png) for name, png in figure_pngs(report).items()})


def write_report(run_dir: Path | str, out: Path | str | None = None, task: Task | None = None) -> Path:
    """Write the report of the run in `run_dir` to `out` (default RUN_DIR/report.md; `.md` or `.html`)
    and return its path. A Markdown report's figures are PNG files beside it (`<stem>-<figure>.png`).
    CalibrationError when `out` has another suffix, or as `build_report`."""
    out = Path(run_dir) / "report.md" if out is None else Path(out)
    if out.suffix not in REPORT_FORMATS:
        raise CalibrationError(f"the report is written as Markdown or HTML: give --out a name ending in "
                               f"{' or '.join(REPORT_FORMATS)}, not {out.name}")
    report = build_report(run_dir, task)
    pngs = figure_pngs(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".html":
        out.write_text(render_html(report, pngs), encoding="utf-8")
        return out
    images = {}
    for name, png in pngs.items():
        image = out.with_name(f"{out.stem}-{name}.png")
        image.write_bytes(png)
        images[name] = image.name
    out.write_text(render_markdown(report, images), encoding="utf-8")
    return out
