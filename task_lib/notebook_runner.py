"""Execute notebooks headlessly with papermill-style parameters, on top of nbclient.

Contract: a notebook has one code cell tagged ``parameters`` holding plain literal assignments.
Overrides go into a new cell tagged ``injected-parameters`` right after it, so they win over the
defaults while every cell below still sees them. The executed notebook is written even when a cell
fails, so the failure leaves evidence.

Every run is bounded: a cell may run for its notebook's budget (``cell_timeout``), and a kernel that
dies or stops answering ends the run with one line naming the notebook and the cell
(``NotebookStalled``) instead of a wait.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbformat import NotebookNode

PARAMETERS_TAG = "parameters"
INJECTED_PARAMETERS_TAG = "injected-parameters"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
KERNEL_NAME = "python3"


HARNESS_FOLDER = "harness"


def find_notebooks(directory: Path | str) -> list[Path]:
    """The course notebooks (``NN_*.ipynb``) in ``directory`` and its folders, in reading order:
    those directly in it, then one folder per task (in the registry's order, then any other folder by
    name), then the harness's folder."""
    from task_lib.registry import TASK_PACKAGES

    order = [package.rsplit(".", 1)[1] for package in TASK_PACKAGES.values()]

    def reading_order(folder: Path) -> tuple:
        rank = order.index(folder.name) if folder.name in order else len(order)
        return folder.name == HARNESS_FOLDER, rank, folder.name

    directory = Path(directory)
    folders = sorted((path for path in directory.iterdir() if path.is_dir()),
                     key=reading_order) if directory.is_dir() else []
    return [path for folder in (directory, *folders) for path in sorted(folder.glob(NOTEBOOK_GLOB))]


def parse_parameter_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn ``["SEED=1", "BACKEND=offline"]`` into ``{"SEED": 1, "BACKEND": "offline"}``.

    A value is read as a Python literal when it is one, otherwise kept as a string.
    """
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"bad parameter {pair!r}: write it as NAME=VALUE, e.g. SEED=1")
        try:
            overrides[name] = ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError):
            overrides[name] = text
    return overrides


def parameters_cell_index(nb: NotebookNode, source: Path | str = "notebook") -> int:
    """Index of the first code cell tagged ``parameters``; ValueError naming ``source`` if none."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and PARAMETERS_TAG in cell.metadata.get("tags", []):
            return index
    raise ValueError(
        f"{source}: no code cell is tagged {PARAMETERS_TAG!r}; "
        "tag the cell that holds the notebook's literal parameters"
    )


def parameter_names(cell_source: str) -> list[str]:
    """Names assigned at the top level of a parameters cell, in order."""
    names: list[str] = []
    for statement in ast.parse(cell_source).body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        names += [target.id for target in targets if isinstance(target, ast.Name)]
    return names


def parameter_defaults(cell_source: str) -> dict[str, Any]:
    """The literal value each name gets in a parameters cell (ValueError if one is not a literal)."""
    defaults: dict[str, Any] = {}
    for statement in ast.parse(cell_source).body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    try:
                        defaults[target.id] = ast.literal_eval(statement.value)
                    except ValueError:
                        raise ValueError(f"parameter {target.id!r} is not set to a plain literal") from None
    return defaults


def inject_parameters(
    nb: NotebookNode, parameters: Mapping[str, Any], source: Path | str = "notebook"
) -> None:
    """Put ``parameters`` in an ``injected-parameters`` cell right after the parameters cell.

    A cell injected by an earlier run is removed first; no cell is added when there is nothing to
    override. Unknown names and values that are not Python literals raise ValueError.
    """
    import nbformat

    nb.cells = [cell for cell in nb.cells if INJECTED_PARAMETERS_TAG not in cell.metadata.get("tags", [])]
    index = parameters_cell_index(nb, source)
    if not parameters:
        return
    known = parameter_names(nb.cells[index].source)
    lines = ["# Injected parameters"]
    for name, value in parameters.items():
        if name not in known:
            raise ValueError(f"{source}: unknown parameter {name!r}; the parameters cell defines {known}")
        text = repr(value)
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError) as error:
            raise ValueError(
                f"parameter {name!r}: {text} is not a Python literal; pass a number, string, "
                "bool, None, or a list/tuple/dict of those"
            ) from error
        lines.append(f"{name} = {text}")
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_PARAMETERS_TAG]})
    if "id" in nb.cells[index]:
        cell.id = INJECTED_PARAMETERS_TAG
    else:
        cell.pop("id", None)
    nb.cells.insert(index + 1, cell)


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_REFERENCE = re.compile(r'(?:IPY_MODEL_|"model_id": ")([0-9a-f]{32})')
_WIDGET_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def stabilize_widget_ids(nb: NotebookNode) -> None:
    """Rename the widget models saved with ``nb`` to ids fixed by where the models appear.

    The kernel names widget models with random ids, so without this every run would rewrite the
    notebook's widget state. Models are numbered in the order they are reached from the cell
    outputs, following each model's references; models reached from no output come last, ordered
    by their kind and state.
    """
    import nbformat

    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    if not state:
        return
    order: list[str] = []

    def visit(model_id: str) -> None:
        if model_id in state and model_id not in order:
            order.append(model_id)
            for reference in _WIDGET_REFERENCE.findall(json.dumps(state[model_id]["state"], sort_keys=True)):
                visit(reference)

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view:
                visit(view["model_id"])
    def kind_and_state(model_id: str) -> tuple[str, str]:
        return state[model_id]["model_name"], json.dumps(state[model_id], sort_keys=True)

    for model_id in sorted(state, key=kind_and_state):
        visit(model_id)
    names = {old: f"{number:032x}" for number, old in enumerate(order, 1)}
    text = _WIDGET_ID.sub(lambda match: names.get(match[0], match[0]), json.dumps(nb))
    renamed = nbformat.from_dict(json.loads(text))
    nb.clear()
    nb.update(renamed)


@functools.cache
def _this_python_kernel_manager() -> type:
    """A kernel manager that always starts ipykernel's own ``python3`` spec, i.e. this interpreter.

    An installed ``python3`` kernelspec (say, a user-level one) may point at another Python; the
    notebooks must run with the packages of the interpreter that runs them.
    """
    import atexit
    import shutil
    import tempfile

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    # The kernel talks over IPC sockets in a private directory, not TCP: nothing listens on the
    # network, and ipykernel has no unencrypted-TCP warning to print.
    sockets = tempfile.mkdtemp(prefix="task-lib-kernels-")
    atexit.register(shutil.rmtree, sockets, ignore_errors=True)

    class ThisPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return KernelSpecManager(kernel_dirs=[])

        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            return tempfile.mktemp(prefix="kernel-", dir=sockets)

    return ThisPythonKernelManager


def _kernel_environment() -> dict[str, str]:
    """The kernel's environment: ours, minus MPLBACKEND, so inline figures are captured."""
    return {name: value for name, value in os.environ.items() if name != "MPLBACKEND"}


BUDGET_METADATA = "task_lib"
DEFAULT_CELL_TIMEOUT = 120


def cell_timeout(nb: NotebookNode) -> int:
    """Seconds one cell of ``nb`` may run: ``metadata.task_lib.cell_timeout`` (a few times the slowest
    cell of a clean run, set in the committed notebook), else ``DEFAULT_CELL_TIMEOUT``."""
    return int(nb.metadata.get(BUDGET_METADATA, {}).get("cell_timeout", DEFAULT_CELL_TIMEOUT))


class NotebookStalled(Exception):
    """A notebook's run ended without a cell's reply: the kernel died, never began a request, or a cell
    ran past its budget. ``str()`` is one line naming the notebook and the cell. ``fresh_kernel_helps``
    is True when the kernel never answered a request it was sent (a message lost between client and
    kernel): the same run with a fresh kernel is then the remedy; a cell that ran too long or killed its
    kernel would do it again."""

    def __init__(self, message: str, fresh_kernel_helps: bool) -> None:
        super().__init__(message)
        self.fresh_kernel_helps = fresh_kernel_helps


def _cell_label(nb: NotebookNode, index: int | None) -> str:
    """How a stall message names a cell: its index and first line, or the kernel's start-up."""
    if index is None:
        return "before the first cell (the kernel's start-up handshake)"
    first_line = next((line for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index} ({first_line[:60]!r})"


def _bounded_client_class() -> type:
    """nbclient's NotebookClient, noting which cell runs and whether the kernel has begun it, so that
    a stall can say where it happened and whether a request was lost; a timeout before the first cell
    (waiting on the kernel's ``kernel_info`` reply) raises ``CellTimeoutError`` like a cell's."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    class BoundedNotebookClient(NotebookClient):
        running_cell: int | None = None
        cell_begun = False

        def process_message(self, msg: dict, cell: NotebookNode, cell_index: int) -> Any:
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "busy":
                self.cell_begun = True
            return super().process_message(msg, cell, cell_index)

        async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> None:
            if cell is None:
                raise CellTimeoutError(f"no kernel_info reply in {timeout} s")
            return await super()._async_handle_timeout(timeout, cell)

    return BoundedNotebookClient


def _stall(where: str, error: Exception, cell_begun: bool, budget: int) -> NotebookStalled:
    """The ``NotebookStalled`` for nbclient's ``error`` at ``where`` (the notebook and the cell)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(error, DeadKernelError):
        return NotebookStalled(f"{where}: the kernel died", fresh_kernel_helps=False)
    if cell_begun:
        return NotebookStalled(f"{where} ran past its budget of {budget} s (raise the notebook's "
                               f"metadata.{BUDGET_METADATA}.cell_timeout if it needs longer)",
                               fresh_kernel_helps=False)
    if isinstance(error, CellTimeoutError):
        return NotebookStalled(f"{where}: the kernel never began it in {budget} s (a request lost "
                               "between client and kernel)", fresh_kernel_helps=True)
    return NotebookStalled(f"{where}: {error}", fresh_kernel_helps=True)


def run_notebook(
    path: Path | str,
    parameters: Mapping[str, Any] | None = None,
    output_path: Path | str | None = None,
    timeout: int | None = None,
    cwd: Path | str | None = None,
) -> NotebookNode:
    """Execute the notebook at ``path`` with ``parameters`` overriding its parameters cell.

    The kernel runs this Python interpreter in ``cwd`` (default: the notebook's directory), without
    ``MPLBACKEND`` so that inline figures are captured. A cell may run ``timeout`` seconds (default:
    the notebook's ``cell_timeout``), the kernel start-up as long; a kernel that dies, stops answering
    or overruns raises ``NotebookStalled``.
    The executed notebook is written to ``output_path`` (default: ``path``, in place) even when a
    cell fails or stalls; a cell error (nbclient's ``CellExecutionError``) is then re-raised. Saved
    widget state gets stable model ids (``stabilize_widget_ids``), so that a rerun does not churn it.
    """
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, parameters or {}, path)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    working_dir = Path(cwd) if cwd is not None else path.parent
    budget = timeout if timeout is not None else cell_timeout(nb)

    def note_cell(cell: NotebookNode, cell_index: int) -> None:
        client.running_cell, client.cell_begun = cell_index, False

    client = _bounded_client_class()(
        nb,
        timeout=budget,
        startup_timeout=budget,
        kernel_name=KERNEL_NAME,
        kernel_manager_class=_this_python_kernel_manager(),
        record_timing=False,
        on_cell_execute=note_cell,
        resources={"metadata": {"path": str(working_dir.resolve())}},
    )
    target = Path(output_path) if output_path is not None else path
    try:
        client.execute(env=_kernel_environment())
    except (CellTimeoutError, DeadKernelError, RuntimeError) as error:
        if type(error) is RuntimeError and client.running_cell is not None:
            raise  # not a stall but a bug (ours or nbclient's): its traceback is the report
        raise _stall(f"{path.name}: {_cell_label(nb, client.running_cell)}", error, client.cell_begun,
                     budget) from error
    finally:
        stabilize_widget_ids(nb)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
    return nb
