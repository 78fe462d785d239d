"""Render results as tables (``rich`` if installed, else plain text) and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .scenarios import Result

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _num(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def _trim(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}x"


def _pairs(targets: Sequence[str]) -> list[tuple[str, str]]:
    """Ratio columns: (X, moto) with X the first non-moto target, and twinstore/twinstore-plain (the cost of
    encryption at rest) when both run."""
    pairs = []
    if "moto" in targets:
        others = [t for t in targets if t != "moto"]
        if others:
            pairs.append((others[0], "moto"))
    if "twinstore" in targets and "twinstore-plain" in targets:
        pairs.append(("twinstore", "twinstore-plain"))
    return pairs


def build_tables(
    results: list[Result], targets: Sequence[str], servers: dict[str, dict[str, Any]]
) -> list[Table]:
    """Main comparison table, per-target details table and peak-RSS table."""
    by: dict[tuple[str, str], Result] = {(r.scenario, r.target): r for r in results}
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    pairs = _pairs(targets)
    ratio_hdr = [f"{a}/{b}" for a, b in pairs]

    header = ["scenario", "unit", *targets, *ratio_hdr,
              *(f"p50/p99 ms {t}" for t in targets),
              *(f"RSS MiB {t}" for t in targets)]
    rows = []
    for sc in scenarios:
        rs = [by.get((sc, t)) for t in targets]
        unit = next((r.unit for r in rs if r), "")
        row = [sc, unit, *(_num(r.rate) if r else "-" for r in rs)]
        for pa, pb in pairs:
            a, b = by.get((sc, pa)), by.get((sc, pb))
            row.append(_ratio(a.rate if a else None, b.rate if b else None))
        row += [f"{_num(r.p50_ms, 2)} / {_num(r.p99_ms, 2)}" if r else "-" for r in rs]
        row += [_num(r.server_rss_max_mib, 0) if r else "-" for r in rs]
        rows.append(row)
    main: Table = (
        "Throughput (higher is better); latency and sampled server RSS (lower is better)", header, rows)

    dh = ["scenario", "target", "ops", "err", "secs", "conc", "client CPU%", "server CPU%",
          "server CPU us/op", "VmHWM MiB"]
    drows = [[r.scenario, r.target, str(r.ops), str(r.errors), f"{r.elapsed_s:.2f}", str(r.concurrency),
              _num(r.client_cpu_pct, 0), _num(r.server_cpu_pct, 0), _num(r.server_cpu_us_per_op, 0),
              _num(r.server_vmhwm_mib, 0)] for r in results]
    details: Table = ("Details (VmHWM = server peak RSS since start, read after the scenario)", dh, drows)

    ph = ["target", "pid", "peak RSS MiB (VmHWM)", "max sampled RSS MiB", "command"]
    prows = [[name, str(s.get("pid") or "-"), _num(s.get("vmhwm_mib"), 0), _num(s.get("rss_max_mib"), 0),
              _trim(s.get("command", ""), 70)] for name, s in servers.items()]
    peak: Table = ("Server peak memory over the whole run (process tree)", ph, prows)
    errs = [r for r in results if r.first_error]
    tables = [main, details, peak]
    if errs:
        tables.append(("Errors", ["scenario", "target", "errors", "first error"],
                       [[r.scenario, r.target, str(r.errors), (r.first_error or "")[:200]] for r in errs]))
    return tables


_TEXT_COLUMNS = ("command", "first error")


def _left(i: int, header: list[str]) -> bool:
    """Text columns (first two, command, error) are left-aligned; numbers right-aligned."""
    return i < 2 or header[i] in _TEXT_COLUMNS


def _fmt_row(cells: list[str], widths: list[int], header: list[str]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if _left(i, header) else c.rjust(w) for i, (c, w) in pairs).rstrip()


def print_tables(tables: list[Table], plain: bool = False) -> None:
    """Print with rich when available (and not ``plain``), else aligned plain text."""
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table as RTable
        except ImportError:
            plain = True
    if plain:
        for title, header, rows in tables:
            widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
            print(f"\n{title}")
            line = _fmt_row(header, widths, header)
            print(line)
            print("-" * len(line))
            for row in rows:
                print(_fmt_row(row, widths, header))
        return
    console = Console()
    for title, header, rows in tables:
        t = RTable(title=title, title_justify="left")
        for i, h in enumerate(header):
            t.add_column(h, justify="left" if _left(i, header) else "right")
        for row in rows:
            t.add_row(*row)
        console.print(t)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write results (NaN -> null) as indented JSON."""
    def clean(o: Any) -> Any:
        if isinstance(o, float) and math.isnan(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    path.write_text(json.dumps(clean(payload), indent=2) + "\n")
