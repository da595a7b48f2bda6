"""The pack's verifiers v1 taskset under the id `dropout-variance` (`vf-eval dropout-variance ...`):
verifiers imports a taskset id as one top-level module, so this module only re-exports
task_lib.export.verifiers_taskset, where the taskset and its harness live."""

from task_lib.export.verifiers_taskset import PackHarness, PackTaskset

__all__ = ["PackHarness", "PackTaskset"]
