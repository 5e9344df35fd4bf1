"""Tests of distill_lib.report.tables: Markdown tables that stay tables."""

from distill_lib.report.tables import ci_text, escape, markdown_table


def test_bars_in_cells_are_escaped_so_the_row_keeps_its_columns():
    table = markdown_table(["metric", "value"], [["KL(teacher || student)", 1.5]])
    row = table.splitlines()[2]
    assert row == "| KL(teacher \\|\\| student) | 1.5 |"
    assert row.replace("\\|", "").count("|") == 3  # three separators: two columns
    assert escape("a\nb") == "a b"


def test_alignment_row():
    assert markdown_table(["a", "b"], [], align="lr").splitlines()[1] == "|---|---:|"


def test_ci_text_with_and_without_bounds():
    assert ci_text({"mean": 0.5, "low": 0.4, "high": 0.61}, 2) == "0.50 [0.40, 0.61]"
    assert ci_text({"mean": 0.5, "low": None, "high": None}, 1) == "0.5"
