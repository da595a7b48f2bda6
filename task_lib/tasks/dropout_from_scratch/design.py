"""The grader's design numbers for dropout-from-scratch: the p values checked, the sizes and limits.
Pure data: the prompt states them, the checks use them, power.py derives `N_CALLS` (pinned by a test)."""

FIXED_P = (0.2, 0.5, 0.8)
# Each grade also checks one p drawn uniformly from this range (rounded to 3 decimals).
FRESH_P_RANGE = (0.1, 0.9)
# The statistical checks call dropout N_CALLS times on each of two arrays (one per dtype) at each
# checked p: eight arrays in all, each of a shape drawn fresh in every grade, with a number of elements
# in STAT_SIZE_RANGE. Their ranks are STAT_RANKS, each used twice, in an order drawn fresh; of the two
# 1-D arrays, one has odd length and one even.
STAT_DTYPES = ("float32", "float64")
STAT_RANKS = (1, 2, 3, 4)
STAT_SIZE_RANGE = (6000, 12000)
N_CALLS = 10
# On each array the calls' drop counts must not all be equal, and some call's must differ from p * n
# by more than COUNT_SLACK (exact-count masks do neither); over both arrays of a p, some call's must
# differ by more than POOLED_COUNT_SLACK (the largest slack power.py allows: pinned by a test).
COUNT_SLACK = 1
POOLED_COUNT_SLACK = 6
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
