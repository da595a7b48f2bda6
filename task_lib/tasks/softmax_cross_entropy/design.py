"""The grader's design numbers for softmax-cross-entropy: the problem it draws, the training run, the
probes and every tolerance and threshold. Pure data: the prompt states them, the checks use them, and
power.py states the argument behind the held-out thresholds."""

# The problem: N_CLASSES Gaussian clusters with unit covariance in N_FEATURES dimensions, centred at
# SEPARATION times the first N_CLASSES vectors of a fresh random orthonormal basis, plus a random
# offset; equal class frequencies. Its Bayes accuracy is about 0.83, the same on every grade.
N_FEATURES = 10
N_CLASSES = 10
SEPARATION = 2.6
N_TRAIN = 1000
N_HELDOUT = 50_000
# The training run: train(model, x, y, epochs=EPOCHS, lr=LR, seed=...) on float32 tensors.
EPOCHS = 15
LR = 0.02
# Held-out thresholds (power.py): accuracy at least ACCURACY_MIN, NLL (each term capped at NLL_CAP
# nats) at most NLL_MAX. Measured over 200 seeds (README): the reference's population values are far
# above / below them, the softmax bug's training far below / above.
ACCURACY_MIN = 0.70
NLL_MAX = 1.1
NLL_CAP = 10.0
# The probes. Three parameter states: two fresh models (one built under torch's default dtype
# float32, one under float64), their parameters multiplied by a factor drawn from SCALE_RANGE, with
# n_features and n_classes drawn uniformly from PROBE_FEATURES and PROBE_CLASSES (the ranges the prompt
# allows); and the trained model. Each state is probed in float32 (`.float()`), then in float64
# (`.double()`) at the same parameter values, on three batches whose sizes are drawn from
# BATCH_SIZES (a batch of one row always; the largest holds every class), inputs Gaussian around a
# random centre with a spread drawn from INPUT_SPREAD (from tighter to five times wider than the
# training clusters).
PROBE_FEATURES = (1, 32)
PROBE_CLASSES = (2, 32)
SCALE_RANGE = (1.0, 3.0)
BATCH_SIZES = ((1, 1), (2, 16), (32, 256))  # inclusive; the last drawn log-uniformly
INPUT_SPREAD = (0.1, 5.0)  # log-uniform
N_DIRECTIONS = 5
MAX_PARAMS = 65_536
# Central-difference step along a unit direction in parameter space (float64 probes). A ReLU kink
# within h of θ along a direction spoils that direction's difference (docs/tasks/softmax-cross-entropy.md),
# so the check takes the median over the directions: three of five must be spoiled at once.
STEP = 1e-7
# The held-out inputs are also predicted in chunks of random sizes (CHUNK_SIZES, log-uniform) and each
# row compared with the whole-batch prediction: a row's probabilities depend on that row only.
CHUNK_SIZES = (1, 4096)
# Tolerances of the deterministic checks, derived and measured in docs/tasks/softmax-cross-entropy.md
# (rounding and truncation are orders of magnitude below them).
SUM_TOLERANCE = 1e-5  # |row sum - 1| of every probability row, float32 and float64
ROW_TOLERANCE = 1e-4  # |whole-batch row - chunk row| of the float32 held-out probabilities
LOSS_TOLERANCE = 1e-6  # float64: |loss - NLL| <= LOSS_TOLERANCE * max(1, NLL)
LOSS_TOLERANCE_FLOAT32 = 1e-4  # float32, likewise
# float64: median over directions of |g.u - central difference| / max(1, |difference|)
GRADIENT_TOLERANCE = 1e-5
GRADIENT_TOLERANCE_FLOAT32 = 1e-3  # float32: max |g32 - g64| / max(1, max |g64|) at the same parameters
# The grader's child (importing torch, training, every probe) must finish within these.
GRADE_SECONDS = 60
GRADE_MEMORY_GIB = 2
