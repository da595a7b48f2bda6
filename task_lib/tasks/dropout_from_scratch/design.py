"""The grader's design numbers for dropout-from-scratch: the p values checked, the sizes and limits.
Pure data: the prompt states them, the checks use them, power.py derives `N_CALLS` (pinned by a test)."""

FIXED_P = (0.2, 0.5, 0.8)
# Each grade also checks one p drawn uniformly from this range (rounded to 3 decimals).
FRESH_P_RANGE = (0.1, 0.9)
# The statistical checks call dropout N_CALLS times at each checked p on one array of this shape.
STAT_SHAPE = (128, 129)
N_CALLS = 8
# The drop count of some call must differ from p * n by more than this (exact-count masks do not).
COUNT_SLACK = 1
# Mask shifts (in elements of the flattened array) compared between every two calls.
SHIFTS = (0, 1, -1)
# Survivors: |y / x * (1 - p) - 1| at most this, by dtype.
SCALE_RTOL = {"float32": 1e-6, "float64": 1e-9}
# p values that must raise ValueError, and those that must not (label -> (kind, value)).
INVALID_P = {"-0.1": ("float", -0.1), "1.5": ("float", 1.5), "nan": ("nan", 0.0)}
VALID_P = {"0": ("float", 0.0), "0.5": ("float", 0.5), "1": ("float", 1.0), "int 0": ("int", 0),
           "int 1": ("int", 1), "np.float32(0.5)": ("float32", 0.5)}
# The grader's child (import and every call) must finish within these.
GRADE_SECONDS = 20
GRADE_MEMORY_GIB = 2
