"""Fused CPU kernels of the stacked training step (``fused.c``), each beside its torch reference.

Between two batched matmuls, a step of S stacked students does elementwise work on
``(S, H, B)`` tensors (activations units-first, ``stacked_mlp``): LayerNorm, its affine, ReLU, dropout, and their gradients; after the
backward, per-student clipping and Adam on the ``(S, P)`` weights. As torch operations
that is about thirty passes over memory per step, each a kernel launch; here each of four
jobs is one pass in C (``fused.c`` states every formula):

- ``dropout_multipliers``: the dropout stream's multipliers (``streams.DropoutStream``);
- ``ln_relu_dropout_forward``: LayerNorm -> affine -> ReLU -> dropout, masks drawn in the kernel;
- ``ln_relu_dropout_backward``: its gradient, with the affine's and the Linear bias's gradients;
- ``clip_adam``: gradient-norm clipping per student and Adam (``stacked.FlatAdam``'s update).

Each function runs the C kernel on float32 CPU tensors when the library is built, and its
torch reference otherwise (on CUDA, without a C compiler, or with ``DISTILL_FUSED_CPU=0``).
The dropout masks are integer arithmetic, identical either way; the float results agree
to rounding (the C kernels sum in another order; tests compare both ways).

The library is compiled once per machine with the system's C compiler (``$CC``, else ``gcc``
or ``cc``; ``-O3 -march=native``, about a second) into ``~/.cache/distill_lib`` (or
``$XDG_CACHE_HOME/distill_lib``), named by a hash of the source, the compiler and the CPU, so
that machines sharing a home directory each get their own. Measured against the other way to
fuse these kernels, ``torch.compile`` (inductor, which needs the same compiler), see the
``benchmarks/bench_batched.py`` docstring.
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

import torch

__all__ = [
    "ENV_SWITCH",
    "SPLITMIX_GAMMA",
    "available",
    "clip_adam",
    "dropout_multipliers",
    "ln_relu_dropout_backward",
    "ln_relu_dropout_forward",
    "signed64",
    "splitmix64_mix",
]

SOURCE = Path(__file__).with_name("fused.c")
#: set to ``0`` to run every step with its torch reference (e.g. to compare, or to rule the C out)
ENV_SWITCH = "DISTILL_FUSED_CPU"
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC")  # no errno: sqrtf vectorises

#: SplitMix64's increment (the golden ratio, 2^64 / phi) and Stafford's variant-13 multipliers
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)

#: each kernel's argument types, one letter each: i int64, u uint64, f float, p pointer (fused.c)
_SIGNATURES = {
    "dropout_multipliers": "iiiipppuup",
    "ln_relu_dropout_forward": "iiipppifpppppu",
    "ln_relu_dropout_backward": "iiipppppippppi",
    "clip_adam": "iiippppppppffffff",
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


def _p(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _check_rows(name: str, t: torch.Tensor, width: int) -> None:
    """A per-student parameter ``(S, width)``: rows may be apart (a view of the flat weights), units contiguous."""
    if t.ndim != 2 or t.shape[1] != width or t.stride(1) != 1:
        raise ValueError(f"{name} must be (S, {width}) with contiguous rows; got shape {tuple(t.shape)}")


def _check_contiguous(**tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if not t.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous()); got strides {t.stride()}")


# ----------------------------------------------------------------------------------------
# The dropout stream (streams.DropoutStream): SplitMix64
# ----------------------------------------------------------------------------------------


def signed64(value: int) -> int:
    """A 64-bit pattern as the int64 torch stores it."""
    value %= 1 << 64
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def splitmix64_mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's output function on int64 bit patterns (wrapping arithmetic, as unsigned 64-bit)."""
    z = (z ^ _shift_right(z, 30)) * signed64(_MIX[0])
    z = (z ^ _shift_right(z, 27)) * signed64(_MIX[1])
    return z ^ _shift_right(z, 31)


def _multipliers_reference(
    keys: torch.Tensor, thresholds: torch.Tensor, scales: torch.Tensor, first: int, layer_stride: int, shape: tuple
) -> torch.Tensor:
    n_layers, n_rows, hidden = shape
    device = keys.device
    position = (
        torch.arange(n_layers, device=device).view(-1, 1, 1) * layer_stride
        + torch.arange(n_rows, device=device).view(-1, 1) * hidden
        + torch.arange(hidden, device=device)
        + signed64(first + 1)
    )  # (L, n, H): the stream position n + 1 of each unit
    x = splitmix64_mix(keys.view(-1, 1, 1, 1) + position * signed64(SPLITMIX_GAMMA))  # (S, L, n, H)
    keep = _shift_right(x, 32) >= thresholds.view(-1, 1, 1, 1)
    return keep.to(scales.dtype) * scales.view(-1, 1, 1, 1)


def dropout_multipliers(
    keys: torch.Tensor,
    thresholds: torch.Tensor,
    scales: torch.Tensor,
    first: int,
    layer_stride: int,
    shape: tuple[int, int, int],
) -> torch.Tensor:
    """Multipliers ``(S, L, n, H)``: ``scale_s`` where student s keeps the unit, else 0 (``fused.c``).

    Unit u of row r of layer l is stream position ``first + l * layer_stride + r * H + u``.
    """
    n_layers, n_rows, hidden = shape
    lib = _c(keys, thresholds, scales)
    if lib is None or scales.dtype != torch.float32:
        return _multipliers_reference(keys, thresholds, scales, first, layer_stride, shape)
    out = torch.empty(len(keys), n_layers, n_rows, hidden, dtype=scales.dtype, device="cpu")
    lib.dropout_multipliers(
        len(keys), n_layers, n_rows, hidden, _p(keys), _p(thresholds), _p(scales), first, layer_stride, _p(out)
    )
    return out


# ----------------------------------------------------------------------------------------
# LayerNorm -> affine -> ReLU -> dropout, and its gradient
# ----------------------------------------------------------------------------------------


def ln_relu_dropout_forward(
    z: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    eps: float,
    h: torch.Tensor,
    rstd: torch.Tensor | None,
    dropout: Dropout | None,
) -> None:
    """``h = dropout(relu(LN(z) * gamma + beta))`` for S students, in place (``fused.c``).

    ``z`` ``(S, H, B)`` (units first) becomes ``xhat``, the normalised input; ``h`` ``(S, H, B)``
    and ``rstd`` ``(S, B)`` (the inverse standard deviations; None: not kept) are written.
    ``dropout``: ``(keys, thresholds, scales, first)`` of ``streams.DropoutRows.layer``, unit u of
    row b of student s at stream position ``first + b * H + u``, or None (eval mode).
    """
    n_students, width, batch = z.shape
    _check_contiguous(z=z, h=h)
    _check_rows("gamma", gamma, width)
    _check_rows("beta", beta, width)
    keys, thresholds, scales, first = dropout if dropout is not None else (None, None, None, 0)
    lib = _c(z, gamma, beta, h, rstd, keys, thresholds, scales)
    if lib is None or z.dtype != torch.float32:
        xhat, _, r = torch.native_layer_norm(z.mT, (width,), None, None, eps)  # (S, B, H), r (S, B, 1)
        out = torch.relu(torch.addcmul(beta.unsqueeze(1), xhat, gamma.unsqueeze(1)))
        if dropout is not None:
            out = out * dropout_multipliers(keys, thresholds, scales.to(z.dtype), first, 0, (1, batch, width))[:, 0]
        z.copy_(xhat.mT)
        h.copy_(out.mT)
        if rstd is not None:
            rstd.copy_(r.squeeze(-1))
        return
    lib.ln_relu_dropout_forward(
        n_students, width, batch, _p(z), _p(gamma), _p(beta), gamma.stride(0), eps, _p(h), _p(rstd),
        _p(keys), _p(thresholds), _p(scales), first,
    )  # fmt: skip


def ln_relu_dropout_backward(
    dh: torch.Tensor,
    h: torch.Tensor,
    xhat: torch.Tensor,
    rstd: torch.Tensor,
    gamma: torch.Tensor,
    scales: torch.Tensor | None,
    dgamma: torch.Tensor,
    dbeta: torch.Tensor,
    dbias: torch.Tensor,
) -> None:
    """The gradient of ``ln_relu_dropout_forward``, in place (``fused.c``).

    ``dh`` ``(S, H, B)`` (dL/dh) becomes dL/dz; ``dgamma``, ``dbeta`` and ``dbias`` ``(S, H)`` (the
    LayerNorm's affine and the bias of the Linear before it) are overwritten. ``scales`` ``(S,)``:
    the dropout multipliers of kept units (None: no dropout); a unit passed the gradient iff
    ``h > 0`` (kept, and the ReLU open).
    """
    width = dh.shape[1]
    _check_contiguous(dh=dh, h=h, xhat=xhat, rstd=rstd)
    for name, t in (("gamma", gamma), ("dgamma", dgamma), ("dbeta", dbeta), ("dbias", dbias)):
        _check_rows(name, t, width)
    if dgamma.stride(0) != dbeta.stride(0) or dgamma.stride(0) != dbias.stride(0):
        raise ValueError("dgamma, dbeta and dbias must have the same row stride")
    lib = _c(dh, h, xhat, rstd, gamma, scales, dgamma, dbeta, dbias)
    if lib is None or dh.dtype != torch.float32:
        scale = 1.0 if scales is None else scales.to(dh.dtype).view(-1, 1, 1)
        dy = torch.where(h > 0, dh * scale, 0.0)  # (S, H, B)
        dbeta.copy_(dy.sum(-1))
        dgamma.copy_((dy * xhat).sum(-1))
        g = dy * gamma.unsqueeze(-1)
        dz = rstd.unsqueeze(1) * (g - g.mean(1, keepdim=True) - xhat * (g * xhat).mean(1, keepdim=True))
        dh.copy_(dz)
        dbias.copy_(dz.sum(-1))
        return
    lib.ln_relu_dropout_backward(
        *dh.shape, _p(dh), _p(h), _p(xhat), _p(rstd), _p(gamma), gamma.stride(0), _p(scales),
        _p(dgamma), _p(dbeta), _p(dbias), dgamma.stride(0),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# Clipping and Adam
# ----------------------------------------------------------------------------------------


def clip_adam(
    theta: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    grads: torch.Tensor,
    sizes: list[int],
    max_norm: torch.Tensor,
    clip: torch.Tensor,
    hyper: tuple[float, float, float, float, float, float],
) -> bool:
    """Clipping and Adam in one pass (``fused.c``) if the C kernel can run; returns whether it did.

    ``theta``, ``exp_avg``, ``exp_avg_sq`` ``(S, P)``; ``grads`` ``(S * P,)`` in parameter-major
    blocks of ``sizes``; ``max_norm`` ``(S,)``, ``clip`` ``(S,)`` bool; ``hyper`` = ``(1 - beta1,
    beta2, 1 - beta2, eps, lr / bias_correction1, bias_correction2 ** 0.5)``. The reference is
    ``stacked.clip_per_student_`` then ``stacked.FlatAdam.step``, which the caller runs if not.
    """
    lib = _c(theta, exp_avg, exp_avg_sq, grads, max_norm, clip)
    if lib is None or theta.dtype != torch.float32:
        return False
    _check_contiguous(theta=theta, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, grads=grads)
    n_students, n_params = theta.shape
    offsets = torch.tensor([sum(sizes[:k]) for k in range(len(sizes))], dtype=torch.int64, device="cpu")
    size_t = torch.tensor(sizes, dtype=torch.int64, device="cpu")
    flags = clip.to(device="cpu", dtype=torch.uint8).contiguous()
    lib.clip_adam(
        n_students, n_params, len(sizes), _p(offsets), _p(size_t), _p(grads), _p(theta), _p(exp_avg),
        _p(exp_avg_sq), _p(max_norm), _p(flags), *hyper,
    )  # fmt: skip
    return True
