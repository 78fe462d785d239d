"""Runs a parsed query over an EventSource: a streaming prefix (fields, filter, parse) applied chunk by chunk,
then the blocking commands (stats, sort, dedup, limit) over what it kept.

A query whose order is `@timestamp` (the default) and that ends in a limit stops reading chunks as soon as no
unread chunk can hold a better event (chunks are read newest first), so `filter ... | limit 20` touches only
the newest chunks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Callable

from . import aggregates
from . import ast as A
from .compile import Fn, compile_expr
from .source import EventSource
from .values import Timestamp, num, render, sort_key, truthy
from .vector import vkey, vpred

SYSTEM_FIELDS = {"@timestamp", "@message", "@logStream", "@log", "@ingestionTime", "@ptr"}
DEFAULT_LIMIT = 10_000


class QueryCancelled(Exception):
    """StopQuery (or shutdown) reached a running query."""


@dataclass
class Statistics:
    records_matched: float = 0.0
    records_scanned: float = 0.0
    bytes_scanned: float = 0.0


@dataclass
class Result:
    fields: list[str]
    rows: list[list[dict[str, str]]] = field(default_factory=list)
    stats: Statistics = field(default_factory=Statistics)


def _is_blocking(c: A.Command) -> bool:
    return isinstance(c, (A.Stats, A.Sort, A.Limit, A.Dedup))


class Plan:
    """What the query needs from the store and how its rows flow."""

    def __init__(self, q: A.Query, limit: int | None = None) -> None:
        self.q = q
        self.limit = min(limit or DEFAULT_LIMIT, DEFAULT_LIMIT * 10)
        cmds = q.commands
        cut = next((i for i, c in enumerate(cmds) if _is_blocking(c)), len(cmds))
        self.stream_cmds = [c for c in cmds[:cut] if not isinstance(c, A.Display)]
        self.rest = cmds[cut:]
        self.has_stats = any(isinstance(c, A.Stats) for c in cmds)
        has_sort = any(isinstance(c, A.Sort) for c in cmds)
        if not self.has_stats and not has_sort:  # default order: newest first
            self.rest = [A.Sort([A.SortKey(A.Field("@timestamp"), True)])] + self.rest
        refs: set[str] = set()
        early_message = False
        for c in cmds:
            for e, output_only in _exprs(c):
                for x in A.walk(e):
                    if isinstance(x, A.Field):
                        refs.add(x.name)
                        if x.name == "@message" and not output_only:
                            early_message = True
                    if isinstance(x, A.Call) and x.name == "bin":
                        refs.add("@timestamp")
        self.output = self._output_fields()
        refs.update(f for f in self.output)
        self.with_message = early_message
        self.system = {f for f in refs if f in SYSTEM_FIELDS} - {"@message", "@ptr", "@timestamp"}
        self.fields = sorted(f for f in refs if f not in SYSTEM_FIELDS)
        self.topk = self._topk()
        # column-at-a-time path: filters only before the first blocking command, maybe a count-only stats
        vf = [vpred(c.expr) for c in self.stream_cmds if isinstance(c, A.Filter)]
        self.vfilters = vf if len(vf) == len(self.stream_cmds) and all(f is not None for f in vf) else None
        self.vstats: tuple[A.Stats, list[tuple[Any, bool]]] | None = None
        self.vagg: tuple[A.Stats, list[tuple[Any, bool]]] | None = None  # other aggregates over field columns
        if self.vfilters is not None and self.rest and isinstance(self.rest[0], A.Stats):
            st = self.rest[0]
            keys = [vkey(it.expr) for it in st.by]
            count_only = all(isinstance(x, A.Call) and x.name == "count" and
                             (not x.args or isinstance(x.args[0], A.Star))
                             for it in st.items for x in A.walk(it.expr) if isinstance(x, A.Call)
                             and x.name in A.AGGREGATES)
            if count_only and all(k is not None for k in keys):
                self.vstats = (st, keys)  # type: ignore[assignment]
            elif all(k is not None for k in keys) and all(
                    x.name in aggregates.VECTOR_AGGREGATES and len(x.args) <= 1 and
                    all(isinstance(a, (A.Field, A.Star)) for a in x.args)
                    for it in st.items for x in A.walk(it.expr) if isinstance(x, A.Call) and x.name in A.AGGREGATES):
                self.vagg = (st, keys)

    def _output_fields(self) -> list[str]:
        cmds = self.q.commands
        displays = [c for c in cmds if isinstance(c, A.Display)]
        if displays:
            return _dedupe([it.name for it in displays[-1].items])
        last_stats = max((i for i, c in enumerate(cmds) if isinstance(c, A.Stats)), default=-1)
        if last_stats >= 0:
            st = cmds[last_stats]
            assert isinstance(st, A.Stats)
            names = [it.name for it in st.by] + [it.name for it in st.items]
            after = cmds[last_stats + 1:]
        else:
            after = cmds
            names = []
        # `fields` commands choose the columns; without any, @timestamp, @message and what `parse` extracts
        if any(isinstance(c, A.Fields) for c in after):
            names += [it.name for c in after if isinstance(c, A.Fields) for it in c.items]
        elif last_stats < 0:
            names += ["@timestamp", "@message"] + [n for c in after if isinstance(c, A.Parse) for n in c.names]
        return _dedupe(names)

    def _topk(self) -> tuple[int, bool] | None:
        """(k, descending) when only the k first events in @timestamp order can reach the result."""
        if self.has_stats:
            return None
        rest = self.rest
        if rest and isinstance(rest[0], A.Sort):
            keys = rest[0].keys
            if len(keys) != 1 or not (isinstance(keys[0].expr, A.Field) and keys[0].expr.name == "@timestamp"):
                return None
            desc = keys[0].desc
            rest = rest[1:]
        else:
            desc = True
        k = self.limit
        for c in rest:
            if isinstance(c, A.Limit):
                k = min(k, c.n)
                break
            if isinstance(c, (A.Dedup, A.Sort, A.Filter, A.Stats)):  # may drop rows: k are not enough
                return None
        return k, desc


def _dedupe(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]  # type: ignore[func-returns-value]


def _exprs(c: A.Command) -> list[tuple[A.Expr, bool]]:
    """Expressions of a command, each with whether it only names an output column."""
    if isinstance(c, (A.Fields, A.Display)):
        return [(it.expr, isinstance(it.expr, A.Field)) for it in c.items]
    if isinstance(c, A.Filter):
        return [(c.expr, False)]
    if isinstance(c, A.Stats):
        return [(it.expr, False) for it in c.items + c.by]
    if isinstance(c, A.Sort):
        return [(k.expr, False) for k in c.keys]
    if isinstance(c, A.Parse):
        return [(c.source, False)]
    if isinstance(c, A.Dedup):
        return [(A.Field(n), False) for n in c.names]
    return []


# ---- streaming commands -------------------------------------------------------------------------------------

def _stream_stage(c: A.Command) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    if isinstance(c, A.Filter):
        pred = compile_expr(c.expr)
        return lambda rows: [r for r in rows if truthy(pred(r))]
    if isinstance(c, A.Fields):
        assigns = [(it.name, compile_expr(it.expr)) for it in c.items
                   if not (isinstance(it.expr, A.Field) and it.expr.name == it.name)]
        if not assigns:
            return lambda rows: rows

        def fields(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for r in rows:
                vals = [(n, f(r)) for n, f in assigns]
                for n, v in vals:
                    r[n] = v
            return rows
        return fields
    if isinstance(c, A.Parse):
        src = compile_expr(c.source)
        rx, names = c.pattern, c.names
        named = bool(rx.groupindex)

        def parse(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for r in rows:
                v = src(r)
                if v is None:
                    continue
                m = rx.search(v if v.__class__ is str else str(v))
                if m is None:
                    continue
                if named:
                    for n in names:
                        g = m.group(n)
                        if g is not None:
                            r[n] = g
                else:
                    for n, g in zip(names, m.groups()):
                        r[n] = g
            return rows
        return parse
    raise TypeError(c)


# ---- blocking commands ---------------------------------------------------------------------------------------

def _sort(rows: list[dict[str, Any]], keys: list[A.SortKey]) -> list[dict[str, Any]]:
    for k in reversed(keys):
        f = compile_expr(k.expr)
        vals = [(f(r), r) for r in rows]
        present = [(v, r) for v, r in vals if v is not None]
        absent = [r for v, r in vals if v is None]
        if present and all(v.__class__ is int for v, _ in present):
            present.sort(key=lambda vr: vr[0], reverse=k.desc)
        else:
            present.sort(key=lambda vr: sort_key(vr[0]), reverse=k.desc)
        rows = [r for _, r in present] + absent  # nulls last either way
    return rows


def _dedup(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for r in rows:
        key = tuple(r.get(n) for n in names)
        if any(v is None for v in key):
            out.append(r)
        elif key not in seen:
            seen.add(key)
            out.append(r)
    return out


class _StatsRunner:
    def __init__(self, st: A.Stats) -> None:
        self.st = st
        self.aggs: list[tuple[str, str, Fn | None, float]] = []  # (slot, name, arg fn, pct)
        self.arg_fields: list[str | None] = []  # the field each aggregate reads (None: count(*) or an expression)
        slots: dict[int, str] = {}
        for it in st.items:
            for x in A.walk(it.expr):
                if isinstance(x, A.Call) and x.name in A.AGGREGATES and id(x) not in slots:
                    slot = f"\x00agg{len(slots)}"
                    slots[id(x)] = slot
                    if any(A.has_aggregate(a) for a in x.args):
                        raise ValueError("aggregation functions cannot be nested")
                    arg: Fn | None = None
                    p = 0.0
                    self.arg_fields.append(x.args[0].name if x.args and isinstance(x.args[0], A.Field) else None)
                    if x.args and not isinstance(x.args[0], A.Star):
                        arg = compile_expr(x.args[0])
                    if x.name == "pct":
                        pv = x.args[1]
                        if not (isinstance(pv, A.Lit) and num(pv.value) is not None):
                            raise ValueError("pct() takes a literal percentile")
                        p = float(num(pv.value))  # type: ignore[arg-type]
                    self.aggs.append((slot, x.name, arg, p))
        self.items = [(it.name, compile_expr(it.expr, slots)) for it in st.items]
        self.by = [(it.name, compile_expr(it.expr)) for it in st.by]

        self.groups: dict[Any, list[Any]] = {}
        self.counts: dict[Any, int] = {}
        self.count_only = all(name == "count" and arg is None for _, name, arg, _ in self.aggs)

    def run(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.feed(rows)
        return self.finish()

    def feed(self, rows: list[dict[str, Any]]) -> None:
        """Adds rows to the groups (called chunk by chunk: rows are not kept)."""
        aggs, by = self.aggs, self.by
        single = len(by) == 1
        key_fn = by[0][1] if single else None
        by_fns = [f for _, f in by]
        if self.count_only:
            counts = self.counts
            get = counts.get
            if single:
                assert key_fn is not None
                for r in rows:
                    k = key_fn(r)
                    counts[k] = get(k, 0) + 1
            else:
                for r in rows:
                    k = tuple(f(r) for f in by_fns)
                    counts[k] = get(k, 0) + 1
            return
        groups = self.groups
        for r in rows:
            k = key_fn(r) if single else tuple(f(r) for f in by_fns)  # type: ignore[misc]
            accs = groups.get(k)
            if accs is None:
                accs = groups[k] = [aggregates.make(name, p) for _, name, _, p in aggs]
            ts = r.get("@timestamp")
            for acc, (_, _, arg, _) in zip(accs, aggs):
                acc.add(1 if arg is None else arg(r), ts)

    def feed_columns(self, cols: dict[str, Any], n: int, keys: list[tuple[Any, bool]]) -> None:
        """Column-at-a-time `feed` for aggregates with add_many over plain fields (see Plan.vagg)."""
        keycols = [k[0](cols, n) for k in keys]
        times = [k[1] for k in keys]
        single = len(keys) == 1
        buckets: dict[Any, list[int]] = {}
        for j, k in enumerate(keycols[0] if single else zip(*keycols) if keys else [()] * n):
            b = buckets.get(k)
            if b is None:
                buckets[k] = [j]
            else:
                b.append(j)
        argcols = [cols.get(f) or [None] * n if f is not None else None for f in self.arg_fields]
        groups = self.groups
        for k, idxs in buckets.items():
            accs = groups.get(k)
            if accs is None:
                if single and times[0] and k is not None:
                    k = Timestamp(k)
                elif not single and any(times):
                    k = tuple(Timestamp(v) if t and v is not None else v for v, t in zip(k, times))
                accs = groups[k] = [aggregates.make(name, p) for _, name, _, p in self.aggs]
            for acc, col in zip(accs, argcols):
                if col is None:
                    acc.n += len(idxs)  # count(*)
                else:
                    acc.add_many([col[j] for j in idxs])

    def finish(self) -> list[dict[str, Any]]:
        if self.count_only:
            if not self.counts and not self.by:
                self.counts[()] = 0
            return [self._emit(k, [n] * len(self.aggs)) for k, n in self.counts.items()]
        if not self.groups and not self.by:
            self.groups[()] = [aggregates.make(name, p) for _, name, _, p in self.aggs]
        return [self._emit(k, [a.result() for a in accs]) for k, accs in self.groups.items()]

    def _emit(self, key: Any, results: list[Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if len(self.by) == 1:
            row[self.by[0][0]] = key
        else:
            for (name, _), v in zip(self.by, key):
                row[name] = v
        for (slot, _, _, _), v in zip(self.aggs, results):
            row[slot] = v
        for name, f in self.items:
            row[name] = f(row)
        for slot, *_ in self.aggs:
            del row[slot]
        return row


def prepare(q: A.Query, limit: int | None = None) -> Plan:
    """Checks what only the planner can see (bad stats, bin without a period...); raises ValueError."""
    plan = Plan(q, limit)
    for c in q.commands:
        if isinstance(c, A.Stats):
            _StatsRunner(c)
        elif isinstance(c, (A.Fields, A.Display)):
            for it in c.items:
                if A.has_aggregate(it.expr):
                    raise ValueError(f"'{it.name}': aggregation functions are only valid in stats")
                compile_expr(it.expr)
        elif isinstance(c, A.Filter):
            if A.has_aggregate(c.expr):
                raise ValueError("aggregation functions are only valid in stats")
            compile_expr(c.expr)
        elif isinstance(c, A.Sort):
            for k in c.keys:
                compile_expr(k.expr)
    return plan


def _sort_bound(plan: Plan, rest: list[A.Command]) -> tuple[list[A.SortKey], int] | None:
    """(keys, k) when the query starts its blocking part with a sort whose first k rows are all it can show."""
    if plan.has_stats or plan.topk or not rest or not isinstance(rest[0], A.Sort):
        return None
    k = plan.limit
    for c in rest[1:]:
        if isinstance(c, A.Limit):
            k = min(k, c.n)
            break
        if not isinstance(c, A.Display):
            return None
    return rest[0].keys, k


def _time_order(st: A.Stats, rows: list[dict[str, Any]], later: list[A.Command]) -> list[dict[str, Any]]:
    """`stats ... by bin(...)` without a later sort: newest bin first."""
    bins = [it.name for it in st.by if isinstance(it.expr, A.Call) and it.expr.name == "bin"]
    if not bins or any(isinstance(c, A.Sort) for c in later):
        return rows
    return _sort(rows, [A.SortKey(A.Field(bins[0]), True)])


def _rows(cols: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(cols)
    return [dict(zip(names, vals)) for vals in zip(*cols.values())]


def execute(plan: Plan, source: EventSource, cancelled: Callable[[], bool] = lambda: False) -> Result:
    stages = [_stream_stage(c) for c in plan.stream_cmds]
    stats = Statistics()
    topk = plan.topk
    chunks = source.chunks()
    if topk and not topk[1]:
        chunks.sort(key=lambda c: c.min_ts)
    else:
        chunks.sort(key=lambda c: c.max_ts, reverse=True)
    kept: list[dict[str, Any]] = []
    counts: Counter[Any] = Counter()
    rest = plan.rest
    # a first `stats` aggregates chunk by chunk; a first `sort` keeps only what a limit can show
    feed = _StatsRunner(rest[0]) if plan.vstats is None and rest and isinstance(rest[0], A.Stats) else None
    vagg = plan.vagg[1] if plan.vagg is not None else None
    bound = _sort_bound(plan, rest)
    for i, ch in enumerate(chunks):
        if cancelled():
            raise QueryCancelled()
        cols, n = source.columns(ch, plan.fields, plan.system, plan.with_message)
        if not n:
            continue
        stats.records_scanned += n
        stats.bytes_scanned += ch.nbytes * (n / ch.count if ch.count else 0)
        if plan.vfilters is not None:
            for vf in plan.vfilters:
                mask = vf(cols, n)
                if not all(mask):
                    cols = {k: list(compress(v, mask)) for k, v in cols.items()}
                    n = len(cols["@timestamp"])
                if not n:
                    break
            stats.records_matched += n
            if not n:
                continue
            if plan.vstats is not None:
                keys = plan.vstats[1]
                if not keys:
                    counts[()] += n
                elif len(keys) == 1:
                    counts.update(keys[0][0](cols, n))
                else:
                    counts.update(zip(*[k[0](cols, n) for k in keys]))
                continue
            if vagg is not None and feed is not None:
                feed.feed_columns(cols, n, vagg)
                continue
            rows = _rows(cols)
        else:
            rows = _rows(cols)
            for stage in stages:
                rows = stage(rows)
            stats.records_matched += len(rows)
        if feed is not None:
            feed.feed(rows)
            continue
        if topk and topk[1]:
            rows.reverse()
        kept.extend(rows)
        if bound is not None and len(kept) > 4 * bound[1]:
            kept = _sort(kept, bound[0])[:bound[1]]
        if topk and len(kept) >= topk[0] and i + 1 < len(chunks):
            k, desc = topk
            kept.sort(key=lambda r: r["@timestamp"], reverse=desc)
            del kept[k:]
            worst = kept[-1]["@timestamp"]
            nxt = chunks[i + 1]
            if (desc and nxt.max_ts < worst) or (not desc and nxt.min_ts > worst):
                break
    if plan.vstats is not None:
        st, keys = plan.vstats
        runner = _StatsRunner(st)
        if not keys and not counts:
            counts[()] = 0
        kept = []
        for key, cnt in counts.items():
            if len(keys) == 1:
                key = Timestamp(key) if keys[0][1] and key is not None else key
            elif keys:
                key = tuple(Timestamp(v) if k[1] and v is not None else v for v, k in zip(key, keys))
            kept.append(runner._emit(key, [cnt] * len(runner.aggs)))
        kept = _time_order(st, kept, rest[1:])
        rest = rest[1:]
    if feed is not None:
        kept = _time_order(feed.st, feed.finish(), rest[1:])
        rest = rest[1:]
    rows = kept
    for idx, c in enumerate(rest):
        if cancelled():
            raise QueryCancelled()
        if isinstance(c, A.Stats):
            rows = _time_order(c, _StatsRunner(c).run(rows), rest[idx + 1:])
        elif isinstance(c, A.Sort):
            rows = _sort(rows, c.keys)
        elif isinstance(c, A.Limit):
            rows = rows[:c.n]
        elif isinstance(c, A.Dedup):
            rows = _dedup(rows, c.names)
        elif isinstance(c, A.Display):
            continue
        else:
            rows = _stream_stage(c)(rows)
    rows = rows[:plan.limit]
    return Result(plan.output, _render(plan, rows, source), stats)


def _render(plan: Plan, rows: list[dict[str, Any]], source: EventSource) -> list[list[dict[str, str]]]:
    out_fields = plan.output
    display_items = next((c.items for c in reversed(plan.q.commands) if isinstance(c, A.Display)), None)
    computed = [(it.name, compile_expr(it.expr)) for it in display_items or []
                if not (isinstance(it.expr, A.Field) and it.expr.name == it.name)]
    if "@message" in out_fields:
        missing = [r["#id"] for r in rows if "@message" not in r and "#id" in r]
        if missing:
            msgs = source.messages(missing)
            for r in rows:
                if "#id" in r and "@message" not in r:
                    r["@message"] = msgs.get(r["#id"])
    result = []
    for r in rows:
        for name, f in computed:
            r[name] = f(r)
        line = []
        for name in out_fields:
            s = render(name, r.get(name))
            if s is not None:
                line.append({"field": name, "value": s})
        if "#id" in r:
            line.append({"field": "@ptr", "value": source.ptr(r["#id"])})
        result.append(line)
    return result
