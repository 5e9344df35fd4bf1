"""Across tasks as files: ``tasks.json``, ``tasks.md``, the figure and an offline ``index.html``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ...records.atomic import atomic_write_json, atomic_write_text
from ...records.provenance import provenance
from ...report.html import page
from ...report.plots import save_figure
from ...report.tables import ci_text, markdown_table
from ...rl.tasks import task
from .figures import figure_budgets, figure_tasks
from .sentences import verdict
from .summary import load_study, summarize

__all__ = ["render_markdown", "write_summary"]


def render_markdown(summary: dict[str, Any]) -> str:
    """The table (task x width x objective, with DQN from scratch beside it) and the verdict."""
    rows = [[task(r["task"]).label, str(r["width"]), f"{r['params_pct']:.0f}%", r["setting"],
             ci_text(r["return_pct"], 1), "-" if r["below_half"] is None else f"{100 * r['below_half']:.0f}%",
             ci_text(r["action_agreement"], 3), ci_text(r["own_agreement"], 3)]
            for r in summary["rows"]]  # fmt: skip
    header = ["task", "width", "params", "objective (selected settings)", "return, % of teacher [95% CI]",
              "runs below 50%", "agreement, teacher's states", "agreement, own states"]  # fmt: skip
    lead = {(c["task"], c["width"]): ", ".join(c["leaders"]) for c in summary["leaders"]}
    leaders = [[task(k[0]).label, str(k[1]), v] for k, v in lead.items()]
    return (
        "# The objectives across tasks\n\n"
        + verdict(summary)
        + "\n\n"
        + markdown_table(header, rows, align="lrrlrrrr")
        + "\n"
        + "Intervals: two-stage bootstrap over each task's teachers, then their runs (they include the teachers' "
        "variation).\n\n"
        + f"Leaders per cell (no objective ordered above; {summary['family']}, level {summary['level']}):\n\n"
        + markdown_table(["task", "width", "leaders"], leaders, align="lrl")
    )


def write_summary(folders: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Read each study, write ``tasks.json``, ``tasks.md``, the figures and ``index.html`` into ``out``."""
    if len({Path(f).resolve() for f in folders}) != len(folders):
        raise ValueError(f"studies {[str(f) for f in folders]}: a folder is given twice; give each task's study once")
    studies = {str(f): load_study(f) for f in folders}
    summary = summarize(studies) | {"provenance": provenance()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = render_markdown(summary)
    atomic_write_json(out / "tasks.json", summary)
    atomic_write_text(out / "tasks.md", text)

    save_figure(figure_tasks(summary), out / "tasks_returns.png")
    if any(t["budgets"] for t in summary["tasks"]):
        save_figure(figure_budgets(summary), out / "tasks_budgets.png")
    atomic_write_text(out / "index.html", _page(summary))
    return summary


def _page(summary: dict[str, Any]) -> str:
    """``index.html``: the verdict, the table and the leaders, offline."""

    def cell(r: dict[str, Any], key: str, digits: int) -> str:
        return "" if r[key] is None else html.escape(ci_text(r[key], digits))

    head = ("task", "width", "params", "objective (selected settings)", "return, % of teacher [95% CI]",
            "agreement, teacher's states [95% CI]", "agreement, own states [95% CI]")  # fmt: skip
    body = [f'<p class="verdict">{html.escape(verdict(summary))}</p>', "<table><tr>"]
    body += [f"<th>{html.escape(h)}</th>" for h in head] + ["</tr>"]
    for r in summary["rows"]:
        values = (task(r["task"]).label, str(r["width"]), f"{r['params_pct']:.0f}%", r["setting"])
        body.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in values)
                    + "".join(f"<td>{cell(r, k, d)}</td>" for k, d in (("return_pct", 1), ("action_agreement", 3),
                              ("own_agreement", 3))) + "</tr>")  # fmt: skip
    body.append("</table>")
    body.append('<figure><img src="tasks_returns.png" alt="return by student size, per task"></figure>')
    if any(t["budgets"] for t in summary["tasks"]):
        body.append('<figure><img src="tasks_budgets.png" alt="return against environment steps, per task"></figure>')
    body.append(f"<p>Leaders per cell ({html.escape(summary['family'])}, level {summary['level']}): "
                + "; ".join(f"{html.escape(task(c['task']).label)} width {c['width']}: {html.escape(', '.join(c['leaders']))}"
                            for c in summary["leaders"]) + ".</p>")  # fmt: skip
    studies = ", ".join(f"{html.escape(t['env_id'])} ({html.escape(t['folder'])}, commit {html.escape(str(t['commit']))}"
                        + "".join(f", its steps at {html.escape(c)}" for c in t.get("steps_commits", [])) + ")"
                        for t in summary["tasks"])  # fmt: skip
    body.append(f'<p class="note">Read from: {studies}.</p>')
    return page("The objectives across tasks", "\n".join(body))
