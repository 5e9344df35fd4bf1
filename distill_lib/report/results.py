"""The results table, its files (JSON, CSV, Markdown), the interpretation, the HTML report.

``results.json`` keeps the original comparison script's keys (``mode``, ``alpha``,
``final_action_agreement``, ``final_mean_prob_similarity``, ``best_val_loss``,
``best_epoch``) and adds every other metric. ``final_mean_prob_similarity`` is, as in the
original table, computed at the run temperature (T = 3 by default) although the original
note says T = 1; ``final_prob_similarity_t1`` is the T = 1 value.
"""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import Any

from ..experiments.sections import collect_sections
from ..records.atomic import atomic_write_json, atomic_write_text
from ..records.provenance import provenance, timing

__all__ = [
    "TABLE_COLUMNS",
    "collect_sections",
    "export_html",
    "interpretation",
    "markdown_table",
    "result_row",
    "write_index",
    "write_results",
]

#: (key, header, format) of the published table, in the original's shape plus the T = 1 column
TABLE_COLUMNS: list[tuple[str, str, str]] = [
    ("mode", "mode", "{}"),
    ("alpha", "alpha", "{:.1f}"),
    ("final_action_agreement", "final action agreement", "{:.3f}"),
    ("final_mean_prob_similarity", "final mean prob. similarity (T = run temperature)", "{:.6f}"),
    ("final_prob_similarity_t1", "final mean prob. similarity (T = 1)", "{:.6f}"),
    ("best_val_loss", "best val loss", "{:.6f}"),
    ("best_epoch", "best epoch", "{}"),
]

_FINAL_KEYS = (
    "action_agreement",
    "mean_prob_similarity",
    "prob_similarity_t1",
    "kl_t1",
    "q_mse",
    "q_mae",
    "q_cosine",
    "top2_agreement",
    "regret",
    "val_loss",
    "train_loss",
    "temperature",
)


def result_row(run: dict[str, Any]) -> dict[str, Any]:
    """One table row from a run record (``artifacts.save_run``)."""
    cfg, final = run["config"], run["final"]
    row: dict[str, Any] = {
        "mode": cfg["mode"],
        "alpha": cfg["alpha"],
        "best_val_loss": run["best_val_loss"],
        "best_epoch": run["best_epoch"],
    }
    for key in _FINAL_KEYS:
        row[f"final_{key}"] = final[key]
    row["temperature"] = cfg["temperature"]
    row["loss_fn"] = cfg["loss_fn"]
    row["n_val"] = run["n_val"]
    return row


def collect_study(
    work_dir: str | os.PathLike[str], modes: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[dict[str, Any]]], list[str]]:
    """Gather the finished runs of ``modes`` from ``work_dir``.

    Returns (study parameters, table rows, per-mode histories, missing modes). A mode is
    missing when its ``run.json`` is absent (it failed or was not run) or was made from
    other data than the current data folder.
    """
    from ..experiments.artifacts import load_run, read_record

    work = Path(work_dir)
    data = read_record(work / "data" / "data.json")
    rows, histories, missing = [], {}, []
    common: dict[str, Any] = {}
    for mode in modes:
        run = load_run(work / "runs" / mode)
        if run is None or data is None or run.get("data_key") != data.get("key"):
            missing.append(mode)
            continue
        rows.append(result_row(run))
        histories[mode] = run["history"]
        common = {k: v for k, v in run["config"].items() if k not in ("mode", "alpha")}
    study = {"modes": list(modes), "data": data["params"] if data else None, "run": common}
    return study, rows, histories, missing


def _cell(fmt: str, value: Any) -> str:
    return "" if value is None else fmt.format(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The published table as GitHub Markdown."""
    lines = ["| " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(f, row.get(k)) for k, _, f in TABLE_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    keys = [k for k, _, _ in TABLE_COLUMNS]
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in keys})
    return buf.getvalue()


def interpretation(rows: list[dict[str, Any]]) -> str:
    """A few sentences on the table, written from the numbers (Markdown)."""
    if not rows:
        return "No mode finished, so there is nothing to interpret."
    by_agree = sorted(rows, key=lambda r: r["final_action_agreement"], reverse=True)
    by_sim = sorted(rows, key=lambda r: r["final_prob_similarity_t1"], reverse=True)
    n_val = rows[0].get("n_val")
    top, low = by_agree[0], by_agree[-1]
    spread = top["final_action_agreement"] - low["final_action_agreement"]
    parts = []
    if spread == 0:
        parts.append(
            f"All modes agree with the teacher's greedy action equally often ({top['final_action_agreement']:.1%})."
        )
    else:
        states = f" — {round(spread * n_val)} of {n_val} validation states" if n_val else ""
        parts.append(
            f"Top-1 agreement ranges from {low['final_action_agreement']:.1%} ({low['mode']}) to "
            f"{top['final_action_agreement']:.1%} ({top['mode']}), a spread of {spread * 100:.1f} "
            f"percentage points{states}. One seed cannot say whether a gap this size is real."
        )
    best, worst = by_sim[0], by_sim[-1]
    parts.append(
        f"The full action distribution is matched best by {best['mode']} (probability similarity "
        f"{best['final_prob_similarity_t1']:.3f} at T = 1, KL {best['final_kl_t1']:.4f}) and worst by "
        f"{worst['mode']} ({worst['final_prob_similarity_t1']:.3f}, KL {worst['final_kl_t1']:.4f})."
    )
    if len(rows) > 1:
        parts.append(
            "Best validation losses are each mode's own objective (CE for hard_only, scaled KL for "
            "soft_only), so they are not comparable across rows."
        )
    return " ".join(parts)


def write_results(
    out_dir: str | os.PathLike[str],
    study: dict[str, Any],
    rows: list[dict[str, Any]],
    missing: list[str],
    started: float | None = None,
    extra: dict[str, Any] | None = None,
    extra_markdown: str = "",
) -> dict[str, Any]:
    """Write ``results.json``, ``results.csv`` and ``results.md`` to ``out_dir`` (atomically).

    ``extra``: further sections for ``results.json`` (multi-seed statistics, the sweep).
    """
    out = Path(out_dir)
    payload = {
        **(extra or {}),
        "study": study,
        "results": rows,
        "missing_modes": missing,
        "notes": {
            "final_mean_prob_similarity": "1 - mean|p_t - p_s| at the run temperature, mean over validation batches (as the original table)",
            "final_prob_similarity_t1": "the same at T = 1, over all validation states",
            "best_val_loss": "each mode's own objective; not comparable across modes",
        },
        "provenance": {**provenance(), "timing": timing(started)},
    }
    atomic_write_json(out / "results.json", payload)
    atomic_write_text(out / "results.csv", _csv_text(rows))
    md = "# Distillation objectives: results\n\n" + markdown_table(rows)
    if missing:
        md += f"\nMissing (failed or not run): {', '.join(missing)}\n"
    md += "\n" + interpretation(rows) + "\n"
    if extra_markdown:
        md += "\n" + extra_markdown.rstrip() + "\n"
    atomic_write_text(out / "results.md", md)
    return payload


def export_html(notebook: str | os.PathLike[str], dest: str | os.PathLike[str], hide_code: bool = False) -> None:
    """Render an executed notebook to a self-contained HTML page that works offline."""
    import nbformat
    from nbconvert import HTMLExporter

    templates = Path(__file__).resolve().parent / "templates"
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(templates)])
    exporter.exclude_input = hide_code
    exporter.exclude_input_prompt = hide_code
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    atomic_write_text(dest, body)


def write_index(
    html_dir: str | os.PathLike[str],
    title: str,
    rows: list[dict[str, Any]],
    pages: list[tuple[str, str, str]],
    figures: list[str],
    notes: str = "",
) -> None:
    """``index.html``: the table, the figures and links to every rendered notebook.

    ``pages``: (file name, label, status) for each notebook page; ``figures``: paths relative
    to ``html_dir``.
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in TABLE_COLUMNS)
    body_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(f, row.get(k)))}</td>" for k, _, f in TABLE_COLUMNS) + "</tr>"
        for row in rows
    )
    links = "".join(
        f'<li><a href="{html.escape(name)}">{html.escape(label)}</a> <span class="{html.escape(status)}">{html.escape(status)}</span></li>'
        for name, label, status in pages
    )
    imgs = "".join(f'<figure><img src="{html.escape(f)}" alt="{html.escape(Path(f).stem)}"></figure>' for f in figures)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} .failed, .missing {{ color: #b00; font-weight: bold; }} .ok {{ color: #080; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table><thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table>
<p>{notes}</p>
<h2>Figures</h2>{imgs}
<h2>Notebooks</h2><ul>{links}</ul>
</body></html>
"""
    atomic_write_text(Path(html_dir) / "index.html", page)
