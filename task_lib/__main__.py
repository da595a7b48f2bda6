"""`python -m task_lib`: see task_lib.cli."""

from task_lib.cli import main

raise SystemExit(main())
