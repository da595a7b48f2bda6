"""The confinement: everything untrusted (the model's code, the candidate under the grader) runs here,
in a child the kernel confines (docs/sandbox.md). `run` starts a confined child and says which
mechanism is in force; `bubblewrap` builds its command line, `seccomp_filter` its system-call filter,
`workspace_sync` brings its workspace back; `untrusted_files` and `untrusted_trees` read and remove what
untrusted code left, totally; `doctor` reports it all.

May import: the standard library only (nothing else of task_lib).
"""
