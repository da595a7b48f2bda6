"""The pack's tasks, one package each (see task_lib/task.py for the layout of a task's folder).
Listed by task_lib/registry.py; nothing here imports a task."""
