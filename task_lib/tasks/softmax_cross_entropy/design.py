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
# The float64 probes: parameter states, batches, directions, step.
PROBE_SCALES = (1.0, 3.0)  # fresh models, parameters multiplied by these factors
PROBE_BATCHES = (("batch_a", 64), ("batch_b", 5))
N_DIRECTIONS = 5
MAX_PARAMS = 65_536
# Central-difference step along a unit direction in parameter space. A ReLU kink within h of θ along a
# direction spoils that direction's difference (probability ~1e-5 per direction and batch at this h:
# README), so the check takes the median over the directions: three of five must be spoiled at once.
STEP = 1e-7
# Tolerances of the deterministic checks (float64 rounding and central-difference truncation are
# orders of magnitude below them; the wrong objectives of the tests miss them by 1e-3 or more).
SUM_TOLERANCE = 1e-5  # |row sum - 1| of every probability row
LOSS_TOLERANCE = 1e-6  # |loss - NLL| <= LOSS_TOLERANCE * max(1, NLL)
GRADIENT_TOLERANCE = 1e-5  # median over directions of |g.u - central difference| / max(1, |difference|)
# The grader's child (importing torch, training, every probe) must finish within these.
GRADE_SECONDS = 60
GRADE_MEMORY_GIB = 2
