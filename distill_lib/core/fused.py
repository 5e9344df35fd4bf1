"""The stacked training step's CPU kernels (``fused.c``), loaded with ``ctypes``.

``stacked_mlp.StackedMLP`` trains S students in two kernels per step: ``mlp_forward`` runs
every layer of one student, then the next; ``mlp_backward_adam`` its backward, clipping and
Adam. Each student's data stays in the core's cache from one layer to the next, where torch
operations (``StackedMLP``'s reference path) stream all S students through memory once per
operation, thirty-odd times a step. ``gather_transposed`` (a batch's states and targets, units
first) and ``dropout_multipliers`` (``streams.DropoutStream``'s masks: integers, the same either
way) fall back to torch; ``kl_blend_loss`` (the objective and its gradient in one pass) serves
``losses.kl_blend_loss``. ``fused.c`` states every formula.

The C runs on float32 CPU tensors when the library builds, unless ``DISTILL_FUSED_CPU=0``;
otherwise (CUDA, no C compiler, float64) ``StackedMLP`` runs its torch path, which agrees to
float32 rounding (tests compare the two). The library is compiled once per machine with the
system's C compiler (``$CC``, else ``gcc`` or ``cc``; about 2 s) into ``~/.cache/distill_lib``
(or ``$XDG_CACHE_HOME/distill_lib``), named by a hash of the source, the compiler and the CPU,
so that machines sharing a home directory each get their own. ``FLAGS``: ``-march=native`` for
the CPU's vector width; no ``-ffast-math`` (sums keep their written order; only the contraction
of a multiply and an add into one FMA, GCC's default, rounds otherwise than two operations). How this compares with ``torch.compile`` (inductor, which needs the same compiler) is in
``benchmarks/bench_batched.py``'s docstring.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

__all__ = [
    "ENV_SWITCH",
    "available",
    "dropout_multipliers",
    "gather_transposed",
    "kl_blend_loss",
    "kl_blend_runs",
    "mlp_backward_adam",
    "mlp_forward",
    "runs_on",
    "signed64",
]

SOURCE = Path(__file__).with_name("fused.c")
#: set to ``0`` to run every step with its torch reference (e.g. to compare, or to rule the C out)
ENV_SWITCH = "DISTILL_FUSED_CPU"
#: no errno and no trapping: sqrtf and the selects of a loop vectorise (neither changes a result)
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC")


#: each kernel's argument types, one letter each: i int64, u uint64, f float, p pointer (fused.c)
_SIGNATURES = {
    "gather_transposed": "iiipppip",
    "dropout_multipliers": "iiiipppuup",
    "mlp_forward": "iii" + "pppp" + "if" + "p" * 9,
    "mlp_backward_adam": "iii" + "pppp" + "i" + "p" * 12,
    "kl_blend_loss": "iii" + "pii" * 3 + "pi" + "p" * 5,
}
_CTYPES = {"i": ctypes.c_int64, "u": ctypes.c_uint64, "f": ctypes.c_float, "p": ctypes.c_void_p}

#: the dropout of one layer's rows: keys ``(S,)`` int64, thresholds ``(S,)`` int64, scales ``(S,)``, first position
Dropout = tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]

# ----------------------------------------------------------------------------------------
# Building and loading the library
# ----------------------------------------------------------------------------------------


def _cpu_signature() -> str:
    """What ``-march=native`` compiles for: the CPU's model and feature flags (Linux), else the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    wanted = [line for line in lines if line.split(":")[0].strip() in ("model name", "flags", "Features")]
    return "\n".join(dict.fromkeys(wanted)) or f"{platform.machine()} {platform.processor()}"


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distill_lib"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return base
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"distill_lib-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _build() -> Path:
    """The compiled library, built on first use (atomically: parallel workers may race to build it)."""
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("no C compiler on PATH (set CC, or install gcc)")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), version.encode(), " ".join(FLAGS).encode(), _cpu_signature().encode()):
        digest.update(part + b"\0")
    target = _cache_dir() / f"fused-{digest.hexdigest()[:16]}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            built = Path(tmp) / target.name
            cmd = [compiler, *FLAGS, "-o", str(built), str(SOURCE), "-lm"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise RuntimeError(f"{Path(compiler).name} failed to compile {SOURCE.name}: {last}")
            os.replace(built, target)
    return target


@functools.cache
def _library() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(str(_build()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        warnings.warn(
            f"the fused CPU kernels are unavailable ({err}); stacked training runs torch operations, several "
            "times slower",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    for name, letters in _SIGNATURES.items():
        getattr(lib, name).argtypes = [_CTYPES[letter] for letter in letters]
        getattr(lib, name).restype = None
    return lib


def available() -> bool:
    """Whether the C kernels run (``DISTILL_FUSED_CPU`` not ``0`` and the library builds); checked per call."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and _library() is not None


def _c(*tensors: torch.Tensor | None) -> ctypes.CDLL | None:
    """The library if every tensor is on the CPU (float32 or int64) and it is available, else None."""
    kinds = (torch.float32, torch.int64, torch.bool)
    ok = all(t is None or (t.device.type == "cpu" and t.dtype in kinds) for t in tensors)
    return _library() if ok and available() else None


def _p(t: torch.Tensor | None) -> int | None:  # a tensor's address for the kernels
    return None if t is None else t.data_ptr()


def _check_contiguous(**tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if not t.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous()); got strides {t.stride()}")


# ----------------------------------------------------------------------------------------
# A batch's states and targets, and its dropout masks
# ----------------------------------------------------------------------------------------


def gather_transposed(table: torch.Tensor, first_row: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``out[s, f, j] = table[first_row[s] + rows[s, j], f]``: table ``(R, F)``, rows ``(S, m)`` -> ``(S, F, m)``.

    Each student's rows of a table shared by all (``first_row`` 0) or stacked (``first_row[s]``:
    where student s's rows start), in the units-first layout (``fused.c``).
    """
    (n, m), width = rows.shape, table.shape[1]
    if rows.stride(1) != 1:
        rows = rows.contiguous()
    lib = _c(table, first_row, rows)
    if lib is None or table.dtype != torch.float32 or not table.is_contiguous():
        picked = table.index_select(0, (first_row.view(-1, 1) + rows).reshape(-1))  # (S * m, F)
        return picked.view(n, m, width).transpose(1, 2).contiguous()
    out = torch.empty(n, width, m, dtype=table.dtype, device="cpu")
    lib.gather_transposed(n, m, width, _p(table), _p(first_row.contiguous()), _p(rows), rows.stride(0), _p(out))
    return out


def signed64(value: int) -> int:
    """A 64-bit pattern as the int64 torch stores it."""
    value %= 1 << 64
    return value - (1 << 64) if value >= 1 << 63 else value


def dropout_multipliers(
    keys: torch.Tensor,
    thresholds: torch.Tensor,
    scales: torch.Tensor,
    first: int,
    layer_stride: int,
    shape: tuple[int, int, int],
) -> torch.Tensor | None:
    """Multipliers ``(S, L, n, H)``: ``scale_s`` where student s keeps the unit, else 0 (``fused.c``).

    Unit u of row r of layer l is stream position ``first + l * layer_stride + r * H + u``.
    None where the kernel cannot run (``streams.DropoutRows`` then computes them with torch).
    """
    n_layers, n_rows, hidden = shape
    lib = _c(keys, thresholds, scales)
    if lib is None or scales.dtype != torch.float32:
        return None
    out = torch.empty(len(keys), n_layers, n_rows, hidden, dtype=scales.dtype, device="cpu")
    lib.dropout_multipliers(
        len(keys), n_layers, n_rows, hidden, _p(keys), _p(thresholds), _p(scales), first, layer_stride, _p(out)
    )
    return out


# ----------------------------------------------------------------------------------------
# The stacked step (stacked_mlp.StackedMLP)
# ----------------------------------------------------------------------------------------


def runs_on(*tensors: torch.Tensor) -> bool:
    """Whether the step's kernels run on these tensors: float32 on the CPU, and the library available."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors) and available()


def _addresses(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.tensor([t.data_ptr() for t in tensors], dtype=torch.int64, device="cpu")


class Plan:
    """What the step kernels need to know of a network and its buffers, as int64 arrays (``fused.c``).

    ``dims`` ``(L + 2,)``: input, block widths, outputs; ``offsets`` ``(4 L + 2,)``: each block's
    W, b, LayerNorm weight and bias (-1: none) in a row of the flat weights, then the head's W
    and b; ``dropout`` ``(L,)``: each block's dropout layer (-1: none).
    """

    def __init__(self, dims: list[int], offsets: list[int], dropout: list[int]) -> None:
        self.n_blocks, self.sizes, self.last_offset = len(dims) - 2, list(dims), max(offsets)
        self.dims = torch.tensor(dims, dtype=torch.int64, device="cpu")
        self.offsets = torch.tensor(offsets, dtype=torch.int64, device="cpu")
        self.dropout = torch.tensor(dropout, dtype=torch.int64, device="cpu")

    def buffers(self, z: list[torch.Tensor], h: list[torch.Tensor], rstd: list[torch.Tensor]) -> Buffers:
        """The kernels' per-block buffers (``(S, H_i, B)``, ``(S, H_i, B)``, ``(S, B)``), checked against the plan."""
        widths, (n, _, batch) = self.sizes[1:-1], z[0].shape
        for i, width in enumerate(widths):
            if z[i].shape != (n, width, batch) or h[i].shape != (n, width, batch) or rstd[i].shape != (n, batch):
                raise ValueError(f"block {i}'s buffers do not fit (S, H, B) = {(n, width, batch)}")
        for name, group in (("z", z), ("h", h), ("rstd", rstd)):
            _check_contiguous(**{f"{name}[{i}]": t for i, t in enumerate(group)})
            if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in group):
                raise ValueError(f"the {name} buffers must be float32 CPU tensors")
        return Buffers(n, batch, (_addresses(z), _addresses(h), _addresses(rstd)))


class Buffers(NamedTuple):
    """The addresses of a ``Plan``'s buffers for ``n`` students and ``batch`` states (the tensors must stay alive)."""

    n: int
    batch: int
    addresses: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _check_step(plan: Plan, theta: torch.Tensor, x_t: torch.Tensor, buffers: Buffers, q: torch.Tensor) -> None:
    """Every shape the kernels rely on: a mismatch would read or write outside the tensors."""
    n, batch, dims = theta.shape[0], x_t.shape[-1], plan.sizes
    _check_contiguous(theta=theta, x_t=x_t, q=q)
    if tuple(x_t.shape) != (n, dims[0], batch) or tuple(q.shape) != (n, dims[-1], batch):
        raise ValueError(f"x_t {tuple(x_t.shape)} and q {tuple(q.shape)} do not fit S={n}, dims={dims}, B={batch}")
    if (buffers.n, buffers.batch) != (n, batch):
        raise ValueError(f"buffers for (S, B) = {(buffers.n, buffers.batch)} do not fit (S, B) = {(n, batch)}")
    if plan.last_offset >= theta.shape[1] or any(t.dtype != torch.float32 for t in (theta, x_t, q)):
        raise ValueError(f"the weights {tuple(theta.shape)} ({theta.dtype}) do not fit the plan")


def mlp_forward(
    plan: Plan,
    theta: torch.Tensor,
    eps: float,
    x_t: torch.Tensor,
    buffers: Buffers,
    q: torch.Tensor,
    dropout: list[Dropout] | None,
) -> None:
    """The forward pass of S students (``fused.c``): ``theta`` ``(S, P)``, states ``x_t`` ``(S, D, B)``.

    ``buffers``: ``plan.buffers(z, h, rstd)``, written (per block ``(S, H, B)``, ``(S, H, B)``,
    ``(S, B)``); ``q`` ``(S, A, B)``, written. ``dropout``: per dropout layer, its rows'
    ``(keys, thresholds, scales, first)`` (``streams.DropoutRows.layer``), or None (eval mode).
    """
    _check_step(plan, theta, x_t, buffers, q)
    lib = _library()
    keys, thresholds, scales, firsts = None, None, None, None
    if dropout:
        keys, thresholds, scales = dropout[0][:3]
        firsts = torch.tensor([signed64(d[3]) for d in dropout], dtype=torch.int64, device="cpu")
    n, batch = theta.shape[0], x_t.shape[-1]
    lib.mlp_forward(
        n, batch, plan.n_blocks, _p(plan.dims), _p(plan.offsets), _p(plan.dropout), _p(theta), theta.shape[1], eps,
        _p(x_t), *(_p(b) for b in buffers.addresses), _p(q), _p(keys), _p(thresholds), _p(scales), _p(firsts),
    )  # fmt: skip


def mlp_backward_adam(
    plan: Plan,
    theta: torch.Tensor,
    x_t: torch.Tensor,
    buffers: Buffers,
    dq: torch.Tensor,
    scales: torch.Tensor | None,
    moments: tuple[torch.Tensor, torch.Tensor],
    max_norm: torch.Tensor,
    clip: torch.Tensor,
    hyper: tuple[float, ...],
    grads: torch.Tensor | None = None,
) -> None:
    """Backward from ``dq`` ``(S, A, B)``, clipping and Adam of the last ``mlp_forward`` (``fused.c``).

    ``theta`` and the Adam ``moments`` ``(S, P)`` are updated in place; ``scales`` ``(S,)``: the
    dropout multipliers (None: no dropout); ``hyper`` = ``(1 - beta1, beta2, 1 - beta2, eps,
    lr / (1 - beta1^t), (1 - beta2^t) ** 0.5)``; ``grads`` ``(S, P)``, if given, receives the
    gradients before clipping (for tests).
    """
    _check_step(plan, theta, x_t, buffers, dq)
    _check_contiguous(exp_avg=moments[0], exp_avg_sq=moments[1])
    if moments[0].shape != theta.shape or moments[1].shape != theta.shape:
        raise ValueError("the Adam moments must have the weights' shape (S, P)")
    if grads is not None and (grads.shape != theta.shape or not grads.is_contiguous()):
        raise ValueError("grads must be a contiguous (S, P) tensor")
    flags = clip.to(device="cpu", dtype=torch.uint8).contiguous()
    limits = max_norm.to(device="cpu", dtype=torch.float32).contiguous()
    params = torch.tensor(hyper, dtype=torch.float32, device="cpu")
    n, batch = theta.shape[0], x_t.shape[-1]
    dq = dq.contiguous()  # kept in a name: the kernel reads its memory
    _library().mlp_backward_adam(
        n, batch, plan.n_blocks, _p(plan.dims), _p(plan.offsets), _p(plan.dropout), _p(theta), theta.shape[1],
        _p(x_t), *(_p(b) for b in buffers.addresses), _p(dq), _p(scales), _p(moments[0]), _p(moments[1]),
        _p(limits), _p(flags), _p(params), _p(grads),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# The distillation loss (losses.kl_blend_loss) of S students, with its gradient
# ----------------------------------------------------------------------------------------


def kl_blend_runs(student: torch.Tensor, fields: tuple[torch.Tensor, ...], dim: int) -> bool:
    """Whether ``kl_blend_loss`` runs on these: S students' logits ``(S, A, B)`` (``dim`` the actions'),
    float32 teacher fields ``(S, A, B)`` and int64 actions ``(S, 1, B)``, states contiguous, on the CPU."""
    if student.ndim != 3 or dim not in (-2, 1) or not runs_on(student, *fields[:2]):
        return False
    action, (n, _, batch) = fields[2], student.shape
    shapes = fields[0].shape == fields[1].shape == student.shape and action.shape == (n, 1, batch)
    kinds = action.dtype == torch.int64 and action.device.type == "cpu"
    return shapes and kinds and all(t.stride(-1) == 1 for t in (student, *fields))


class _KLBlend(torch.autograd.Function):
    """The loss's value and, computed with it, its gradient (``fused.c``), as an autograd node."""

    @staticmethod
    def forward(ctx, q, p, plogp, action, alpha, one_minus_alpha, temperature):  # type: ignore[override]
        n, a, batch = q.shape
        loss = torch.empty(n, dtype=torch.float32, device="cpu")
        dq = torch.empty(n, a, batch, dtype=torch.float32, device="cpu") if ctx.needs_input_grad[0] else None
        _library().kl_blend_loss(
            n, a, batch, _p(q), q.stride(0), q.stride(1), _p(p), p.stride(0), p.stride(1), _p(plogp),
            plogp.stride(0), plogp.stride(1), _p(action), action.stride(0), _p(alpha), _p(one_minus_alpha),
            _p(temperature), _p(loss), _p(dq),
        )  # fmt: skip
        ctx.save_for_backward(dq)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # type: ignore[override]
        (dq,) = ctx.saved_tensors
        return grad_loss.view(-1, 1, 1) * dq, None, None, None, None, None, None


def kl_blend_loss(
    student: torch.Tensor,
    fields: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    alpha: torch.Tensor | float,
    temperature: torch.Tensor | float,
) -> torch.Tensor:
    """``losses.kl_blend_loss`` of S students ``(S,)`` (``fused.c``): logits ``(S, A, B)``, the teacher's
    ``(p, p log p, action)`` (``losses.Targets``' fields), ``alpha`` and ``temperature`` per student or one.

    Differentiable in ``student``; ``1 - alpha`` is rounded once from ``alpha``'s dtype (float64).
    """
    n = student.shape[0]

    def per_student(value: torch.Tensor | float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        value = value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float64)
        return value.to(device="cpu", dtype=dtype).expand(n).contiguous()

    alpha64 = per_student(alpha, torch.float64)
    return _KLBlend.apply(student, *fields, alpha64.float(), (1.0 - alpha64).float(), per_student(temperature))
