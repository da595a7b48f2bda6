"""What every task's driver uses in the grader's child: loading the candidate's module and describing
an exception in one line. Runs only in the sandbox, never imported: the child's program is this file,
then the task's `driver.py`, then `grade_child.py` (see `grader.child_program`), so a driver calls
these names directly."""

import importlib.util as _importlib_util
import sys as _kit_sys


def describe_error(exc):
    """`Type: message`, at most 300 characters."""
    return f"{type(exc).__name__}: {exc}"[:300]


def load_candidate(name, report, progress):
    """The candidate's module `name`, loaded from `name`.py in the working directory, or None with
    `report["stage_error"]` set to ["syntax_error" | "import_error", why]. Whatever the module raises
    at import (SystemExit included) is caught."""
    path = name + ".py"
    source = open(path, encoding="utf-8").read()
    try:
        compile(source, path, "exec")
    except SyntaxError as exc:
        report["stage_error"] = ["syntax_error", describe_error(exc)]
        return None
    progress("import")
    spec = _importlib_util.spec_from_file_location(name, path)
    module = _importlib_util.module_from_spec(spec)
    _kit_sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the candidate may raise anything, SystemExit included
        report["stage_error"] = ["import_error", describe_error(exc)]
        return None
    return module
