"""The grader's design numbers for variance-dropout: the probe plan's strata and sizes, and the limits.
Pure data: checks.py draws every grade's probes from them, power.py derives `N_VARIANCE` and the
tail-event count from them, docs/tasks/variance-dropout.md explains them (the prompt states the
contract only, not this plan)."""

DEFAULT_TOLERANCE = 0.10
P_VALUES = (0.3, 0.5, 0.7)  # the variance check's p values (0.5 given as a p type drawn fresh)
# Zero-mean (random-sign) float32 inputs per variance check, at least; derived in power.py, pinned by a
# test. Their shape is (rows, cols), rows odd and drawn fresh in VARIANCE_ROWS, cols the even number that
# makes rows * cols reach N_VARIANCE.
N_VARIANCE = 422_912
VARIANCE_ROWS = (401, 801)

# What every probe draws from.
P_TYPES = ("float", "float16", "float32", "float64")  # and "int", for p = 0 (and invalid integers)
DTYPES = ("float32", "float64")
LAYOUTS = ("C", "F", "strided", "readonly")  # task_lib/grading/child_arrays.py builds them
RANKS = (1, 2, 3, 4)
# p strata: the low end, the middle, the high end of [0, 1). Each end is drawn log-uniformly in 1 - p
# (high) or p (low) between its bounds.
LOW_P = (1e-3, 0.05)
HIGH_P = (0.95, 1 - 1e-4)

# The mask groups: each a pair of twin layers (same p, same input: two fresh layers on identical
# inputs), each layer making TRAIN_CALLS training calls, with EVAL_CALLS eval calls and mode switches
# drawn in between. The first pair's p is drawn in MASK_P[0], the second's in MASK_P[1]; their inputs
# have a dtype each (one of each), a size drawn in MASK_SIZE, Gaussian values of balanced signs; every
# call's layout is drawn. A group's input comes in MASK_SHAPES shapes of one size, which each layer's
# training calls see in the order of MASK_SHAPE_ORDER: three calls of one shape in each layer (a mask
# kept per shape and reused every other call shows), the twins' first and last calls on identical
# inputs. The four shapes of the two groups have the four ranks of RANKS, in a drawn order: every rank
# meets the mask tests in every grade.
MASK_P = ((0.05, 0.5), (0.5, 0.95))
MASK_SIZE = (12_000, 16_000)
TRAIN_CALLS, EVAL_CALLS = 4, 2
MASK_SHAPES = 2
MASK_SHAPE_ORDER = ((0, 0, 0, 1), (0, 1, 1, 1))  # per twin, the shape of each of its training calls
# Pairs of the group's 2 * TRAIN_CALLS training calls compared at every shift (first layer's calls
# 0-3, its twin's 4-7): consecutive calls and the two calls of one shape two apart in each layer, and
# the twins' first and last calls.
MASK_PAIRS = ((0, 1), (1, 2), (2, 3), (0, 2), (4, 5), (5, 6), (6, 7), (5, 7), (0, 4), (3, 7))

# The big call: one input of more than 8 MiB (its size in bytes drawn in BIG_BYTES), dtype, rank and
# layout (a writeable one) drawn, the grade's first call, in training mode at 1 - p drawn in BIG_KEEP (a
# few hundred survivors, every pair of which is compared: a tiled or repeating mask shows), p a Python
# float or a NumPy float32 or float64 (float16 has no value there).
BIG_BYTES = (8 * 1024**2 + 1, 9 * 1024**2)
BIG_LAYOUTS = ("C", "F", "strided")  # writeable: a layer that writes into large inputs must be able to
BIG_KEEP = (1e-4, 2e-4)
# A training call at p in LOW_P on LOW_DROPS / p elements (a layer that drops nothing at small p shows),
# and SWEEP_CALLS training calls at p stratified over SWEEP_P (one in each equal slice), of SWEEP_SIZE
# elements: the scale is checked all over the range where c² (1 - p)'s band is narrowest.
LOW_DROPS = 64
SWEEP_CALLS, SWEEP_P, SWEEP_SIZE = 16, (0.7, 0.999), (1000, 2000)
# The shape calls, each on a fresh layer, with sizes drawn log-uniformly in SMALL_SIZE elements (a rank
# drawn in RANKS): a training call for every dtype x p type (their p drawn over the three strata in
# turn, their layouts covering every dtype x layout), a p = 0 call for every dtype x type of zero, eval
# calls after drawn mode switches, training calls on TINY_SIZE inputs at p in TINY_P, and empty inputs.
SMALL_SIZE = (1, 4096)
EVAL_SHAPE_CALLS = 6
TINY_SIZE, TINY_P, TINY_CALLS, SINGLE_CALLS = (2, 8), (0.05, 0.5), 14, 10  # SINGLE_CALLS of them on 1 element
EMPTY_SHAPES = ((0,), (3, 0, 2))
# Every input handed over is compared again after the last call, once the input of the call at the
# middle of the sequence is at least this old: a change made after a call returned, by a thread the
# candidate left, shows there (the grader checks the outputs meanwhile).
RECHECK_AGE = 0.06
# The training flag after construction and each of these eval()/train() switches, drawn as a fresh
# order of FLAG_SWITCHES of each that holds a repeated eval() and a repeated train(); meanwhile the flag
# of a second layer, never switched, and of a third built after the switches, must stay True.
FLAG_SWITCHES = 4
SCALE_SPREAD_LIMIT = 1e-6  # relative spread of y/x over the survivors of calls at one p: float32 rounds ~1e-7
# The grader's child (import and every call) must finish within these.
GRADE_SECONDS = 20
GRADE_MEMORY_GIB = 2
