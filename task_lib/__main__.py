"""`python -m task_lib`: see task_lib.cli."""

import os
import sys

# `python -m` puts the working directory first on sys.path. Graded from inside a workspace, a
# planted numpy.py (or json.py) there would otherwise replace the real module in the grader itself.
if sys.path and sys.path[0] == os.getcwd():
    del sys.path[0]

from task_lib.cli import main  # noqa: E402

code = main()
if sys.argv[1:2] == ["grade"]:
    # A grade has reaped its child and written its verdict: flush and end now, without tearing the
    # interpreter down (NumPy's teardown alone is ~25 ms of a ~300 ms grade; RL loops run many).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
