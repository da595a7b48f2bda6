"""The grader's design numbers for dropout-from-scratch: the probe plan's strata and sizes, and the limits.
Pure data: checks.py draws every grade's probes from them, power.py derives the tail-event counts and
the plan's bounds from them, docs/tasks/dropout-from-scratch.md explains them (the prompt states the
contract only, not this plan)."""

# What every probe draws from.
P_TYPES = ("float", "float16", "float32", "float64")  # and "int", for p = 0 and 1 (and invalid integers)
DTYPES = ("float32", "float64")
LAYOUTS = ("C", "F", "strided", "readonly")  # task_lib/grading/child_arrays.py builds them
RANKS = (1, 2, 3, 4)
# How a call passes `training`: left out (the default), by keyword, or by position.
TRAINING_STYLES = ("omitted", "keyword", "positional")
# p strata: the low end, the middle, the high end of (0, 1). Each end is drawn half log-uniformly in p
# (low) or 1 - p (high), half uniformly, between its bounds (probe_draws.draw_p).
LOW_P = (1e-3, 0.05)
HIGH_P = (0.95, 1 - 1e-4)

# The mask groups: one input per stratum of MASK_P (one float32 and one float64, a size drawn in
# MASK_SIZE, Gaussian values of balanced signs), called MASK_CALLS times in training mode at one p drawn
# in the stratum (its type drawn), each call on a fresh copy in a drawn layout. A group's input comes in
# MASK_SHAPES shapes of one size, the first half of its calls seeing the first; the four shapes of the
# two groups have the four ranks of RANKS, in a drawn order: every rank meets the mask tests in every
# grade. MASK_CALLS is at least the fewest calls for which exact-count masks fail the count dispersion
# in every grade (power.mask_calls_needed, 7; pinned by a test); 16 makes the pooled value and position
# tests see a lean of a few hundredths of min(p, 1 - p) (docs/tasks/dropout-from-scratch.md).
MASK_P = ((0.05, 0.5), (0.5, 0.95))
MASK_SIZE = (12_000, 16_000)
MASK_CALLS = 16
MASK_SHAPES = 2
# Pairs of a group's calls compared at every shift: every two consecutive calls, the first and the last
# two calls two apart (a mask reused every other call shows in any such pair), the first and the last.
MASK_PAIRS = (*((i, i + 1) for i in range(MASK_CALLS - 1)), (0, 2), (MASK_CALLS - 3, MASK_CALLS - 1),
              (0, MASK_CALLS - 1))

# The big call: one input of more than 8 MiB (its size in bytes drawn in BIG_BYTES), dtype, rank and
# layout drawn, the grade's first call, in training mode at 1 - p drawn in BIG_KEEP (a few hundred
# survivors, every pair of which is compared: a tiled or repeating mask shows), p a Python float or a
# NumPy float32 or float64 (float16 has no value there).
BIG_BYTES = (8 * 1024**2 + 1, 9 * 1024**2)
BIG_KEEP = (1e-4, 2e-4)
# A training call at p in LOW_P on LOW_DROPS / p elements (a function that drops nothing at small p
# shows), and SWEEP_CALLS training calls at p stratified over SWEEP_P[0] to SWEEP_P[2], one in each
# slice: half the slices of equal width in p below SWEEP_P[1], half of equal width in log(1 - p) above
# it (where a scale rounded through float32 or float16 is furthest off), each call of SWEEP_SIZE
# elements and at least SWEEP_SURVIVORS / (1 - p), its dtype and p type covering every pair in each
# half: the scale is checked all over the range.
LOW_DROPS = 64
SWEEP_CALLS, SWEEP_P, SWEEP_SIZE, SWEEP_SURVIVORS = 16, (0.05, 0.95, 0.999), (1000, 2000), 8
# The shape calls, each on a fresh input with a size drawn log-uniformly in SMALL_SIZE elements (a
# rank drawn in RANKS): a training call for every dtype x p type (their p drawn over the three strata
# in turn, from a drawn start, their layouts covering every dtype x layout), a p = 0 call for every type
# of zero, EVAL_CALLS
# calls with training=False (at p = 0, p = 1 and p drawn over the strata), a p = 1 call for every type
# of one, training calls on TINY_SIZE inputs at p in TINY_P, and empty inputs.
SMALL_SIZE = (1, 4096)
EVAL_CALLS = 8
TINY_SIZE, TINY_P, TINY_CALLS = (1, 8), (0.05, 0.5), 10
EMPTY_SHAPES = ((0,), (3, 0, 2))
# The p values whose validity is probed (checks.draw_validity_p): each a training call on a fresh copy
# of one of two inputs (one per dtype) of VALIDITY_SIZE elements (drawn), the outcome (ValueError or
# a result) recorded; a result is checked as any other.
VALIDITY_SIZE = (16, 64)
# Every input handed over is compared again after the last call, once the input of the call at the
# middle of the sequence is at least this old: a change made after a call returned, by a thread the
# candidate left, shows there (the grader checks the outputs meanwhile).
RECHECK_AGE = 0.06
# Survivors: |y / x * (1 - p) - 1| at most this, by dtype (p the exact value passed).
SCALE_RTOL = {"float32": 1e-6, "float64": 1e-9}
# The grader's child (import and every call) must finish within these.
GRADE_SECONDS = 20
GRADE_MEMORY_GIB = 2
