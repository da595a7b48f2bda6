"""The grader's design numbers for variance-dropout: the p values checked, the sample sizes, the
call sequence and the limits. Pure data: the prompt states them, the checks use them, power.py
derives `N_VARIANCE` and the tail-event count from them."""

P_VALUES = (0.3, 0.5, 0.7)  # the variance check's p values; the mask checks add one drawn fresh
FRESH_P_RANGE = (0.02, 0.98)  # each grade draws one more p uniformly from here
DEFAULT_TOLERANCE = 0.10
# Zero-mean (random-sign) inputs per variance check, at least; derived in power.py, pinned by a test.
# Their shape is (rows, cols), rows odd and drawn fresh in VARIANCE_ROWS, cols the even number that
# makes rows * cols reach N_VARIANCE.
N_VARIANCE = 422_912
VARIANCE_ROWS = (401, 801)
# The mask checks' Gaussian input: a (rows, cols) array, both sides odd and drawn fresh in MASK_SIDES.
MASK_SIDES = (101, 161)
# The modes of the calls made on each mask layer, in order: eval()/train() round trips in between.
MASK_MODES = ("train", "train", "eval", "train", "train", "eval", "train", "train")
TRAIN_CALLS = MASK_MODES.count("train")
# Each mask is compared with the previous call's mask shifted by these many elements (flat order);
# "row" stands for one row (cols elements), either way.
SHIFTS = (1, -1, "row", "-row")
# Groups whose drop rate must each be p: by value (task_lib.grading.mask_statistics.value_features: four |x|
# quartiles, each sign, each exponent parity, each state of the two lowest mantissa bits), by position
# (first/second half, even/odd flat index, even/odd row, even/odd column) and by the state of the
# left / upper neighbour in disjoint pairs paired from the first and from the second column / row
# (dropped, kept).
VALUE_GROUPS, POSITION_GROUPS, NEIGHBOUR_GROUPS = 12, 8, 8
COUNT_WINDOW_SIGMAS = 0.25  # drop_count_spread: a call's count within this many sd of p*n is "exact"
SCALE_SPREAD_LIMIT = 1e-6  # relative spread of y/x over survivors: float32 rounding is ~1e-7
# Small inputs of fresh shapes for the shape, dtype and identity checks: a float32 array of 3
# dimensions and a float64 array of 4, every side odd and drawn in SMALL_SIDES, and a 1-element array.
SMALL_SIDES = (1, 7)
# Each small input is also called this often in training at p = 0.5, and those calls join p = 0.5's
# factor checks: a layer scaling small inputs wrongly shows it on some survivor unless every one of
# those calls drops every element, 0.5 ** 30 < 1e-9 even for the 1-element array.
SMALL_P = 0.5
SMALL_CALLS = 30
# The grader's child (import and every call) must finish within these.
GRADE_SECONDS = 20
GRADE_MEMORY_GIB = 2
