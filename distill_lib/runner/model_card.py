"""What ``distill-study compress`` writes: the student as files plain PyTorch loads, and its model card.

The output folder (``write_outputs``) is written whole or not at all: every file goes into a
temporary folder beside it, which is renamed onto the output folder once complete, so a failure
or Ctrl-C leaves no half-written student. It holds:

- ``student.pt``: the student's ``state_dict`` (the keys of an ``nn.Sequential``: ``0.weight``, ...);
- ``student_torchscript.pt``: the same network as TorchScript (``torch.jit.script`` of a plain
  ``nn.Sequential``, checked to give the same Q-values), loaded with ``torch.jit.load`` alone;
- ``model_card.json`` and ``model_card.md``: teacher, task, objective and settings, the share of
  the teacher's parameters, return % with its interval, agreement, every width tried, provenance;
- ``compress.json``: the whole run's record (``runner.compress.CompressRecord``): the card's numbers
  are read from it (``model_card``), never typed.

When no width keeps the share there is no student: only ``compress.json`` and ``no_student.json``
/ ``no_student.md``, which say so with every width's numbers. Model cards after Mitchell et al.
(2019), "Model Cards for Model Reporting".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.schema import ParamError
from ..records.atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from ..records.provenance import provenance
from .compress import CONFIDENCE, CompressRecord, WidthResult, deliverable_run, pick_width

__all__ = ["OUTPUT_FILES", "card_markdown", "check_out_dir", "deployable", "model_card", "write_outputs"]

#: every file compress may write: with --force, a folder holding only these may be replaced
OUTPUT_FILES = (
    "student.pt",
    "student_torchscript.pt",
    "model_card.md",
    "model_card.json",
    "compress.json",
    "no_student.md",
    "no_student.json",
)


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse (``ParamError``, one line) an output folder that exists with files in it, unless ``force`` and every
    file is one compress writes: checked before anything trains."""
    if out.exists() and not out.is_dir():
        raise ParamError(f"-o {out}: is a file; give compress a folder of its own")
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not present:
        return
    if not force:
        raise ParamError(f"-o {out}: holds files already ({', '.join(present[:3])}); give a new folder, or --force")
    foreign = [name for name in present if name not in OUTPUT_FILES]
    if foreign:
        raise ParamError(f"-o {out}: holds files compress did not write ({', '.join(foreign[:3])}); give a new folder")


def deployable(net: nn.Module) -> nn.Sequential:
    """The student as a plain ``nn.Sequential`` of stock layers in eval mode (same keys, same Q-values).

    A ``PairedLayerNorm`` (the study's student) becomes ``nn.LayerNorm``: they differ only in how
    training sums gradients. Refuses a network that is not a sequence of stock layers.
    """
    layers: list[nn.Module] = []
    for module in net.children():
        if isinstance(module, nn.Linear):
            layer: nn.Module = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
        elif isinstance(module, nn.LayerNorm):
            layer = nn.LayerNorm(module.normalized_shape, eps=module.eps, elementwise_affine=module.elementwise_affine)
        elif isinstance(module, nn.ReLU):
            layer = nn.ReLU()
        elif isinstance(module, nn.Dropout):
            layer = nn.Dropout(module.p)
        else:
            raise ValueError(f"a {type(module).__name__} layer: compress delivers MLPs of Linear, LayerNorm, ReLU")
        layer.load_state_dict(module.state_dict())
        layers.append(layer)
    return nn.Sequential(*layers).eval()


def _torchscript(net: nn.Module, states: torch.Tensor) -> torch.jit.ScriptModule:
    """``torch.jit.script`` of ``deployable(net)``, checked against ``net`` on ``states`` ``(N, D)``."""
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript for torch.export; the file still loads
        warnings.simplefilter("ignore", DeprecationWarning)
        script = torch.jit.script(deployable(net))
    with torch.no_grad():
        if not torch.allclose(script(states), net.eval()(states), rtol=1e-5, atol=1e-6):  # (N, A) each
            raise RuntimeError("the TorchScript student's Q-values differ from the trained student's; nothing written")
    return script


def _layers(width_result: WidthResult, record: CompressRecord) -> str:
    d, a = record.teacher["layers"].split("-")[0], record.teacher["layers"].split("-")[-1]
    return f"{d}-{width_result.width}-{width_result.width}-{a}"


def _width_row(r: WidthResult) -> dict[str, Any]:
    return {
        "width": r.width,
        "params": r.params_count,
        "params_pct": r.params_pct,
        "objective": r.chosen.objective,
        "settings": r.chosen.label,
        "return_pct": r.return_pct,
        "return_low": r.return_low,
        "return_high": r.return_high,
        "n": len(r.runs),
        "agreement": r.agreement,
        "keeps": r.keeps,
    }


def model_card(record: CompressRecord, command: str) -> dict[str, Any]:
    """The card's content, every number read from ``record``; ``student`` is None when no width keeps the share."""
    best = pick_width(record.results)
    card: dict[str, Any] = {
        "task": record.env_id,
        "teacher": {k: record.teacher[k] for k in ("file", "sha256", "format", "layers", "params", "shipped")},
        "teacher_return": record.teacher["test_return"],
        "threshold": {
            "keep": record.keep,
            "return_pct": record.threshold,
            "rule": f"the smallest width whose {CONFIDENCE:.0%} interval of the mean return % (over "
            f"student seeds) has its lower end at or above {record.threshold:g}%",
        },
        "widths": [_width_row(r) for r in record.results],
        "episodes": {"validation": record.params["val_episodes"], "test": record.params["test_episodes"]},
        "student_kind": record.params["student_kind"],
        "command": command,
        "provenance": provenance(),
        "student": None,
    }
    if best is not None:
        run = best.runs[deliverable_run(best)]
        card["student"] = {
            "width": best.width,
            "layers": _layers(best, record),
            "params": best.params_count,
            "params_pct": best.params_pct,
            "objective": best.chosen.objective,
            "settings": best.chosen.label,
            "setting": best.chosen.to_json(),
            "seed": run.seed,
            "checkpoint": run.checkpoint,
            "return_pct": {
                "mean": best.return_pct,
                "low": best.return_low,
                "high": best.return_high,
                "confidence": CONFIDENCE,
                "n": len(best.runs),
                "method": best.ci_method,
            },
            "agreement": best.agreement,
            "own_return_pct": run.return_pct,
            "own_val_pct": run.val_pct,
            "own_agreement": run.held_out["action_agreement"],
            "own_agreement_visited": run.own_agreement,
        }
    return card


def _table(card: dict[str, Any]) -> list[str]:
    rows = [
        "| width | parameters (% of teacher's) | objective, settings | return % [95% CI] | agreement | keeps |",
        "|---:|---:|---|---:|---:|:---:|",
    ]
    for w in card["widths"]:
        rows.append(
            f"| {w['width']} | {w['params']:,} ({w['params_pct']:.1f}%) | {w['settings']} | "
            f"{w['return_pct']:.1f} [{w['return_low']:.1f}, {w['return_high']:.1f}] (n = {w['n']}) | "
            f"{w['agreement']:.3f} | {'yes' if w['keeps'] else 'no'} |"
        )
    return rows


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown: what the student is, how it was chosen, how well it does, and how it was made."""
    t, s, prov = card["teacher"], card["student"], card["provenance"]
    teacher = f"`{t['file']}` ({t['format']}, {t['layers']}, {t['params']:,} parameters; sha256 `{t['sha256'][:16]}…`)"
    lines = [f"# {'Compressed policy' if s else 'No compressed policy'}: {card['task']}", ""]
    if s:
        r = s["return_pct"]
        lines += [
            f"A {s['layers']} MLP ({card['student_kind']} student), {s['params']:,} parameters: {s['params_pct']:.1f}% "
            f"of the teacher's. Its width keeps {r['mean']:.1f}% of the teacher's return ({r['confidence']:.0%} "
            f"interval [{r['low']:.1f}, {r['high']:.1f}] over {r['n']} student seeds; the bar: "
            f"{card['threshold']['return_pct']:g}%), and agrees with the teacher on {s['agreement']:.1%} of its "
            "held-out states.",
            "",
            f"- Teacher: {teacher}, test return {card['teacher_return']:.1f}",
            f"- Objective and settings: {s['settings']}, selected on validation among every objective's candidates",
            f"- This file's student: seed {s['seed']}, checkpoint {s['checkpoint']} (best validation return, "
            f"{s['own_val_pct']:.1f}%); its own test return {s['own_return_pct']:.1f}% of the teacher's, agreement "
            f"{s['own_agreement']:.3f} on held-out states and {s['own_agreement_visited']:.3f} on the states it visits",
            "- Files: `student.pt` (state dict of an `nn.Sequential`), `student_torchscript.pt` (TorchScript)",
            "",
            "```python",
            "import torch",
            "policy = torch.jit.load('student_torchscript.pt')",
            "action = policy(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)).argmax(-1).item()",
            "```",
        ]
    else:
        best = max(card["widths"], key=lambda w: w["return_low"])
        lines += [
            f"No width kept {card['threshold']['return_pct']:g}% of the teacher's return: the best lower end "
            f"was {best['return_low']:.1f}% (width {best['width']}). Nothing is delivered; try wider students or a "
            f"lower --keep.",
            "",
            f"- Teacher: {teacher}, test return {card['teacher_return']:.1f}",
        ]
    lines += [
        "",
        f"## Every width tried ({card['threshold']['rule']})",
        "",
        *_table(card),
        "",
        f"Episodes: {card['episodes']['validation']} validation (selection), {card['episodes']['test']} test.",
        "",
        "## How it was made",
        "",
        f"- Command: `{card['command']}`",
        f"- Commit {prov['commit']}{' (uncommitted changes)' if prov['dirty'] else ''}, distill-study "
        f"{prov['distill_lib']}, torch {prov['versions'].get('torch')}, Python {prov['python']}",
        f"- CPU: {prov['cpu']['model']} ({prov['cpu']['torch_capability']})",
        "",
    ]
    return "\n".join(lines)


def _write_folder(out: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Each writer fills its file in a temporary folder beside ``out``, which then replaces ``out`` whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for name, write in writers.items():
            write(tmp / name)
        os.chmod(tmp, 0o755)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise


def write_outputs(
    out: Path, record: CompressRecord, student: nn.Module | None, states: torch.Tensor, command: str
) -> list[Path]:
    """Write the folder (module docstring): the student's files and card, or the no-student card; returns the files.

    ``states`` ``(N, D)`` check that the TorchScript file gives the trained student's Q-values.
    """
    card = model_card(record, command)
    writers: dict[str, Callable[[Path], None]] = {"compress.json": lambda p: atomic_write_json(p, record.to_json())}
    if student is None or card["student"] is None:
        writers["no_student.json"] = lambda p: atomic_write_json(p, card)
        writers["no_student.md"] = lambda p: atomic_write_text(p, card_markdown(card))
    else:
        script = _torchscript(student, states)
        plain = {k: v.detach().clone() for k, v in deployable(student).state_dict().items()}

        def save_script(path: Path) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(script, str(path))

        writers["student.pt"] = lambda p: atomic_torch_save(p, plain)
        writers["student_torchscript.pt"] = save_script
        writers["model_card.json"] = lambda p: atomic_write_json(p, card)
        writers["model_card.md"] = lambda p: atomic_write_text(p, card_markdown(card))
    _write_folder(out, writers)
    return [out / name for name in writers]
