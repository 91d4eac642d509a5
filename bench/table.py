"""The bench's rows and their table: each row declares its target once, and that one
declaration prints (the "target" column) and checks (the "met" column).

A row is a plain dict (it goes to JSON as is): name, ours, baseline, ratio, unit, target
(the target's text, or None), met (bool, or None without a target), note, and any numbers
a target reads besides the columns.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from typing import Callable

import torch

COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


@dataclass(frozen=True)
class Target:
    """What a row must reach: `text` is printed, `test(row)` decides it. A test that meets
    a missing number (None, or NaN) fails: what was not measured is not met."""

    text: str
    test: Callable[[dict], bool]

    def met(self, row: dict) -> bool:
        try:
            return bool(self.test(row))
        except TypeError:  # a None among the numbers compared
            return False

    def __and__(self, other: Target) -> Target:
        """Both targets at once (printed one after the other)."""
        return Target(f"{self.text}, {other.text}", lambda row: self.met(row) and other.met(row))


def _number(value: float) -> str:
    return f"{value:,g}"


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def compare(op: str, value: float, unit: str = "", of: str = "ours") -> Target:
    """The row's `of` column (or extra number) against a fixed value: `>= 24 dB`."""
    text = f"{op} {_number(value)}" + (f" {unit}" if unit else "")
    return Target(text, lambda row: _known(row.get(of)) and COMPARE[op](row[of], value))


def ratio(op: str, value: float) -> Target:
    """The ratio column (bigger is better) against a value: `>= 2x`."""
    return Target(f"{op} {_number(value)}x", lambda row: _known(row["ratio"]) and COMPARE[op](row["ratio"], value))


def against_baseline(op: str, times: float = 1.0, plus: float = 0.0, unit: str = "") -> Target:
    """Ours against the row's own baseline column, scaled or shifted: `> baseline`,
    `<= 3x baseline`, `>= baseline + 4 dB`."""
    text = f"{op} " + (f"{_number(times)}x " if times != 1 else "") + "baseline"
    text += f" {'+' if plus > 0 else '-'} {_number(abs(plus))} {unit}".rstrip() if plus else ""
    return Target(text, lambda row: _known(row["ours"]) and _known(row["baseline"])
                  and COMPARE[op](row["ours"], times * row["baseline"] + plus))


def holds(text: str, field: str) -> Target:
    """A yes/no fact the row carries in `field` (e.g. that two samplers drew the same codes)."""
    return Target(text, lambda row: row.get(field) is True)


def row(name: str, ours, baseline, unit: str, bigger_is_better: bool = True, target: Target | None = None,
        note: str = "", **numbers) -> dict:
    """One row; `numbers` are extra fields its target reads (kept in the JSON)."""
    if ours is None or baseline is None or min(ours, baseline) <= 0:
        rate = None
    else:
        rate = (ours / baseline) if bigger_is_better else (baseline / ours)
    made = {"name": name, "ours": ours, "baseline": baseline, "ratio": rate, "unit": unit,
            "target": target.text if target else None, "note": note, **numbers}
    made["met"] = target.met(made) if target else None
    return made


def fmt(v, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


HEADER = ["| row | ours | baseline | ratio | unit | target | met |", "|---|---:|---:|---:|---|---|---|"]


def table_lines(rows: list[dict]) -> list[str]:
    """The rows as a Markdown table, then each row's note (the bench's and the GPU check's)."""
    lines = list(HEADER)
    for r in rows:
        met = "-" if r["target"] is None else ("yes" if r.get("met") else "NO")
        lines.append(f"| {r['name']} | {fmt(r['ours'])} | {fmt(r['baseline'])} | {fmt(r['ratio'])} | {r['unit']} | "
                     f"{r['target'] or '-'} | {met} |")
    return lines + [f"- {r['name']}: {r['note']}" for r in rows if r["note"]]


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    print("\n".join(table_lines(rows)))


def failed_row(what: str, exc: BaseException, unit: str = "-") -> dict:
    """The row that stands for a part of a run that raised (the others are still measured)."""
    return row(f"{what}: FAILED", None, None, unit, note=f"{type(exc).__name__}: {str(exc)[:300]}")


def machine_name() -> str:
    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}, {platform.system()}")
