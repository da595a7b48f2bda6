"""The grader's design numbers for variance-dropout: the p values checked, the sample sizes and the
limits. Pure data: the prompt states them, the checks use them, power.py derives `N_VARIANCE`."""

P_VALUES = (0.3, 0.5, 0.7)
DEFAULT_TOLERANCE = 0.10
# Zero-mean (random-sign) inputs per variance check; derived in power.py, pinned by a test.
N_VARIANCE = 422_912
# Gaussian inputs per p for the mask and scale checks (two calls each).
N_MASK = 65_536
# The grader's child (import and every call) must finish within these.
GRADE_SECONDS = 20
GRADE_MEMORY_GIB = 2
