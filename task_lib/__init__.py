"""dropout-variance: an LLM agent task (fix variance-stabilized dropout), its grader and calibration.

Importing the package is cheap: heavy dependencies (anthropic, matplotlib, nbclient) load inside the
functions that need them.
"""

__version__ = "0.1.0"
