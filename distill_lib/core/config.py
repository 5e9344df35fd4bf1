"""The run configuration: one frozen, validated object per training run, and the protocol's constants.

``RunConfig`` is assembled from small parameter groups that the experiments share (the
seed, the sizes, the training schedule, the objective); every field is declared once, with
its default, allowed range and meaning (``core.schema``). Building a config validates it,
so a notebook that builds its ``RunConfig`` right after the ``parameters`` cell fails at
once on a bad value, with a message naming the field, the value and the allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Params, param

__all__ = [
    "MAX_SEED",
    "MODES",
    "Q_TARGETS",
    "STATES_SEED_OFFSET",
    "STUDENT_DROPOUT",
    "STUDENT_KINDS",
    "STUDENT_SEED_OFFSET",
    "TEACHER_DROPOUT",
    "TRAINING_SEED_OFFSET",
    "AlphaParams",
    "BatchParams",
    "DeviceParams",
    "ModesParams",
    "ObjectiveParams",
    "QTargetParams",
    "RunConfig",
    "ScheduleParams",
    "SeedParams",
    "SizeParams",
    "StudentKindParams",
    "TeacherFileParams",
    "TeacherWidthParams",
    "alpha_for",
    "loss_names",
    "mode_for_alpha",
    "student_hidden_dim",
]

#: The seed protocol of the original comparison: one base seed, and fixed offsets for each
#: random draw derived from it (teacher weights ``seed``, states, student initialisation,
#: training randomness), so that the parts vary independently when the seed changes.
STATES_SEED_OFFSET = 10_000
STUDENT_SEED_OFFSET = 20_000
TRAINING_SEED_OFFSET = 30_000
#: The largest base seed: ``numpy.random.seed`` takes seeds below 2**32, offsets included.
MAX_SEED = 2**32 - 1 - TRAINING_SEED_OFFSET

#: Dropout of the teacher architecture and of the (narrower) student, as in the original.
TEACHER_DROPOUT = 0.1
STUDENT_DROPOUT = 0.05

#: The three objectives of the study and their alpha (the weight of the soft term).
MODES: dict[str, float] = {"hard_only": 0.0, "blended": 0.7, "soft_only": 1.0}

#: How the teacher's Q-values are put on a scale before a loss reads them (``core.q_targets``).
Q_TARGETS = ("raw", "standardized", "centered", "centered_scaled")

#: The student architectures (``networks.build_student``): the study's QNetwork, or a plain MLP.
STUDENT_KINDS = ("study", "plain")

#: The smallest temperature a run may reach (after its decay): below it, Q / T overflows float32.
MIN_TEMPERATURE = 1e-3


def loss_names() -> tuple[str, ...]:
    """The objectives defined in ``core.losses`` (imported on first use: it loads torch)."""
    from .losses import LOSSES

    return tuple(LOSSES)


def student_hidden_dim(teacher_hidden: int, student_hidden: int | None = None) -> int:
    """The student's width: ``student_hidden`` if given, else half the teacher's, at least 16 (the original's rule)."""
    return student_hidden if student_hidden is not None else max(16, teacher_hidden // 2)


def mode_for_alpha(alpha: float) -> str:
    """The mode name an alpha belongs to: 0 is hard_only, 1 is soft_only, else blended."""
    if alpha == 0.0:
        return "hard_only"
    if alpha == 1.0:
        return "soft_only"
    return "blended"


def alpha_for(mode: str, blend_alpha: float) -> float:
    """A mode's alpha: 0 for hard_only, 1 for soft_only, ``blend_alpha`` for blended."""
    return blend_alpha if mode == "blended" else MODES[mode]


@dataclass(frozen=True)
class SeedParams(Params):
    """The base seed of a world (teacher, states, student initialisation, training)."""

    seed: int = param(
        42,
        "base seed: teacher, states (+10000), student init (+20000), training (+30000)",
        low=0,
        high=MAX_SEED,
    )


@dataclass(frozen=True)
class TeacherWidthParams(Params):
    """The teacher's hidden width (the synthetic teacher's, or a checkpoint's)."""

    teacher_hidden: int = param(
        64,
        "teacher hidden width: the synthetic teacher's, or your QNetwork teacher_checkpoint's with source file or "
        "task (a real-task teacher_checkpoint's widths are read from the file: ignored there)",
        low=1,
        high=100_000,
    )


@dataclass(frozen=True)
class TeacherFileParams(Params):
    """A teacher of your own, as a file (the forms ``rl.policies`` reads)."""

    teacher_checkpoint: str | None = param(
        None,
        "your teacher: with source=file the comparison's (a QNetwork state dict), else the real task's (env_id): "
        "a Stable-Baselines3 DQN .zip, a CleanRL or other MLP state dict, or a TorchScript file",
        path=True,
    )


@dataclass(frozen=True)
class SizeParams(TeacherWidthParams):
    """The sizes of the teacher, the student and the state buffer."""

    input_dim: int = param(8, "state dimension (teacher and student input width)", low=1, high=100_000)
    output_dim: int = param(4, "number of actions (Q-network output width)", low=2, high=100_000)
    student_hidden: int | None = param(
        None, "student hidden width (null: max(16, teacher_hidden // 2))", low=1, high=100_000
    )
    n_states: int = param(5000, "states in the buffer (train + validation)", low=2, high=100_000_000)


@dataclass(frozen=True)
class BatchParams(Params):
    """How a student's batches are made and clipped: what stays when a study tunes epochs and learning rate."""

    temp_decay: float = param(1.0, "temperature multiplier applied after each epoch", low=0.0, high=1.0, low_open=True)
    batch_size: int = param(64, "mini-batch size", low=1, high=10_000_000)
    val_fraction: float = param(0.1, "fraction of states held out for validation", low=0.0, high=1.0, high_open=True)
    max_grad_norm: float | None = param(1.0, "gradient-norm clip (null: no clipping)", low=0.0, high=1e6, low_open=True)


@dataclass(frozen=True)
class ScheduleParams(BatchParams):
    """How a student is trained, apart from its objective."""

    epochs: int = param(25, "training epochs", low=1, high=100_000)
    lr: float = param(1e-3, "Adam learning rate", low=0.0, high=1.0, low_open=True)


@dataclass(frozen=True)
class ObjectiveParams(Params):
    """The objective's shared settings (its alpha is set per run)."""

    temperature: float = param(
        3.0, "softmax temperature of the soft term (rusu_kl: the teacher's tau)", low=0.0, high=1000.0, low_open=True
    )
    loss_fn: str = param(
        "kl",
        "objective (core.losses.LOSSES): kl (Hinton's KL soft term + CE), mse (MSE on Q) or rusu_kl "
        "(KL to the teacher's softmax(q / temperature), student at T = 1, alpha 1; Rusu et al. 2016)",
        choices=loss_names,
    )


@dataclass(frozen=True)
class QTargetParams(Params):
    """How the teacher's Q-values are put on a scale before any loss or metric reads them (``core.q_targets``)."""

    q_targets: str = param(
        "raw",
        "teacher Q-values the student learns: raw, standardized ((q - mean) / std over the run's training "
        "split), centered (q - mean over actions, per state) or centered_scaled (centered / its std over the "
        "training split); greedy actions are the same for all four",
        choices=Q_TARGETS,
    )


@dataclass(frozen=True)
class StudentKindParams(Params):
    """The student's architecture (``networks.build_student``)."""

    student_kind: str = param(
        "study",
        "student architecture: study (Linear, LayerNorm, ReLU, dropout, twice; the original's) or plain "
        "(Linear, ReLU, twice: the shape users deploy)",
        choices=STUDENT_KINDS,
    )


def _devices() -> tuple[str, ...]:
    """Where batched work can run: the CPU, and CUDA when torch sees a GPU (imported on first use)."""
    import torch

    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


@dataclass(frozen=True)
class DeviceParams(Params):
    """Where many students train at once and where closed-loop episodes are played (the seed-compatible
    comparison always runs on the CPU: its numbers are the original's)."""

    device: str = param(
        "cpu",
        "where batched training and closed-loop evaluation run",
        choices=_devices,
        said="cpu, or cuda where torch sees a GPU",
    )


@dataclass(frozen=True)
class AlphaParams(Params):
    """The weight of the soft term."""

    alpha: float = param(
        0.7,
        "weight of the soft term (alpha * soft * T^2 + (1 - alpha) * hard CE); in a study, the blended "
        "objective's (hard_only uses 0, soft_only 1)",
        low=0.0,
        high=1.0,
    )


@dataclass(frozen=True)
class ModesParams(AlphaParams):
    """Which objectives a study compares; ``alpha`` is the blended one's."""

    modes: list[str] = param(list(MODES), "the objectives to compare", choices=tuple(MODES), unique=True, min_len=1)

    def check(self) -> None:
        super().check()
        if "blended" in self.modes and not 0.0 < self.alpha < 1.0:
            raise self.fail("alpha", "the blended objective's alpha must be in (0, 1) (0 is hard_only, 1 soft_only)")

    def mode_alphas(self) -> dict[str, float]:
        """Each compared mode and its alpha, in the order of ``modes``."""
        return {mode: alpha_for(mode, self.alpha) for mode in self.modes}


@dataclass(frozen=True)
class RunConfig(ScheduleParams, AlphaParams, QTargetParams, ObjectiveParams, StudentKindParams, SizeParams, SeedParams):
    """Everything that determines one student's training run (defaults: the original study).

    With ``q_targets`` other than ``raw`` every Q-value the run reads from its teacher is on the
    transformed scale: the targets of the losses, and the validation metrics that compare Q-values
    or probabilities (``val_loss``, ``mean_prob_similarity``, ``prob_similarity_t1``, ``kl_t1``,
    ``q_mse``, ``q_mae``, ``q_cosine``, ``regret``); the agreement metrics are comparable across
    scales (every transform keeps each state's greedy action).
    """

    mode: str = param(
        "blended",
        "objective name: hard_only (alpha 0), blended (0 < alpha < 1) or soft_only (alpha 1)",
        choices=tuple(MODES),
        set_by="the runner sets the mode of each run from the list in 'modes' (e.g. -p modes [hard_only])",
    )

    def check(self) -> None:
        super().check()
        if self.mode != mode_for_alpha(self.alpha):
            raise self.fail(
                "alpha",
                f"does not fit mode={self.mode!r}; hard_only needs alpha 0, soft_only alpha 1, blended 0 < alpha < 1",
            )
        if self.loss_fn == "rusu_kl" and self.alpha != 1.0:
            raise self.fail("alpha", "rusu_kl has no hard term: use alpha 1 (mode soft_only)")
        final = self.temperature * self.temp_decay ** (self.epochs - 1)
        if final < MIN_TEMPERATURE:
            raise self.fail(
                "temp_decay",
                f"takes the temperature to {final:.3g} by the last epoch; it must stay >= {MIN_TEMPERATURE:g}",
            )
        if self.n_states - self.n_val < 1:
            raise self.fail(
                "val_fraction",
                f"leaves no training states (n_states={self.n_states}, n_val={self.n_val}); use a smaller val_fraction",
            )

    @property
    def n_val(self) -> int:
        """Validation states: ``max(1, int(n_states * val_fraction))`` (protocol step 4)."""
        return max(1, int(self.n_states * self.val_fraction))

    @property
    def student_width(self) -> int:
        """The student's hidden width actually used."""
        return student_hidden_dim(self.teacher_hidden, self.student_hidden)
