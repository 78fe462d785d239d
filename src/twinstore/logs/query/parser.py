"""Parser of the Logs Insights language (pipeline of commands).

Lenient where the console is: a pipe segment that does not start with a command keyword continues the
previous field list (the lab query starts lines with `| field AS alias,`), a trailing comma before `|` or the
end is ignored, keywords are case-insensitive, and `like'x'` needs no space.
"""

from __future__ import annotations

import re

from . import ast as A
from .errors import QuerySyntaxError
from .functions import KNOWN_FUNCTIONS, arity
from .lexer import Token, tokenize

COMMANDS = {"fields", "display", "filter", "stats", "sort", "limit", "parse", "dedup", "unmask"}
UNSUPPORTED = {"pattern", "diff", "filterindex", "anomaly", "unnest", "lookup", "join"}
MAX_SOURCE_PREFIXES = 5
MAX_QUERY_LENGTH = 10_000

_UNITS = {}
for _unit, _names in {"ms": ("ms", "msec", "millisecond"), "s": ("s", "sec", "second"),
                      "m": ("m", "min", "minute"), "h": ("h", "hr", "hour"), "d": ("d", "day"),
                      "w": ("w", "week"), "mo": ("mo", "mon", "month"), "q": ("q", "qtr", "quarter"),
                      "y": ("y", "yr", "year")}.items():
    for _n in _names:
        _UNITS[_n] = _unit
        if len(_n) > 1:
            _UNITS[_n + "s"] = _unit


def unit_of(text: str) -> str | None:
    return _UNITS.get(text.lower())


def compile_regex(source: str, flags: int = 0) -> re.Pattern[str]:
    """Hyperscan/PCRE named groups `(?<name>..)` become Python's `(?P<name>..)`."""
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", source), flags)


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    # ---- token helpers -------------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, msg: str, tok: Token | None = None) -> QuerySyntaxError:
        t = tok or self.tok
        return QuerySyntaxError(msg, t.start, max(t.end - 1, t.start), self.text)

    def unexpected(self, expecting: str) -> QuerySyntaxError:
        t = self.tok
        found = "end of query" if t.kind == "EOF" else repr(t.text)
        return self.error(f"unexpected symbol {found}, expecting {expecting}")

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.text.lower() in words

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.unexpected(what)
        return self.next()

    # ---- query ---------------------------------------------------------------------------------------------
    def parse(self) -> A.Query:
        if len(self.text) > MAX_QUERY_LENGTH:
            raise QuerySyntaxError(f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH,
                                   len(self.text) - 1, self.text)
        q = A.Query(text=self.text)
        while self.tok.kind == "PIPE":  # leading pipes
            self.next()
        if self.tok.kind == "EOF":
            raise self.error("empty query")
        if self.is_kw("source"):
            q.source = self.source()
            if self.tok.kind == "EOF":
                raise self.error("a query needs a command after SOURCE")
            if self.tok.kind != "PIPE":
                raise self.unexpected("'|'")
            while self.tok.kind == "PIPE":
                self.next()
        while True:
            q.commands.append(self.command(q))
            if self.tok.kind == "EOF":
                break
            if self.tok.kind != "PIPE":
                raise self.unexpected("'|' or end of query")
            while self.tok.kind == "PIPE":
                self.next()
            if self.tok.kind == "EOF":
                break
        return q

    def command(self, q: A.Query) -> A.Command:
        t = self.tok
        word = t.text.lower() if t.kind == "IDENT" else ""
        if word in UNSUPPORTED:
            raise self.error(f"command '{t.text}' is not supported")
        if word not in COMMANDS:
            # a segment without a command keyword continues the previous `fields` list (lab query style);
            # the empty Fields returned is dropped by parse_query
            prev = next((c for c in reversed(q.commands) if c.__class__ is not A.Fields or c.items), None)
            if isinstance(prev, (A.Fields, A.Display)):
                prev.items.extend(self.items())
                return A.Fields([])
            raise self.unexpected("a command (fields, filter, stats, sort, limit, parse, display, dedup)")
        self.next()
        if word == "unmask":  # nothing is masked here (no data protection policies): a no-op
            return A.Fields([])
        if word == "fields":
            return A.Fields(self.items())
        if word == "display":
            return A.Display(self.items())
        if word == "filter":
            return A.Filter(self.expr())
        if word == "stats":
            return self.stats()
        if word == "sort":
            return self.sort()
        if word == "limit":
            tok = self.expect("NUMBER", "a number")
            if not isinstance(tok.value, int) or tok.value < 1:
                raise self.error("limit must be a positive integer", tok)
            return A.Limit(tok.value)
        if word == "parse":
            return self.parse_cmd()
        return A.Dedup([it.name for it in self.items(allow_alias=False)])

    def source(self) -> A.Source:
        """SOURCE logGroups(namePrefix: ['a', 'b'], class: 'STANDARD')"""
        self.next()
        if not self.is_kw("loggroups"):
            raise self.unexpected("logGroups(...)")
        self.next()
        self.expect("LPAREN", "'('")
        prefixes: list[str] = []
        cls: str | None = None
        while self.tok.kind != "RPAREN":
            key = self.tok
            if key.kind != "IDENT" or key.text.lower() not in ("nameprefix", "class", "accountidentifier"):
                raise self.unexpected("namePrefix, class or accountIdentifier")
            self.next()
            self.expect("COLON", "':'")
            if key.text.lower() == "class":
                cls = str(self.expect("STRING", "a log group class string").value)
            else:
                values = self.primary()
                if not (isinstance(values, A.ListLit) and all(isinstance(v, A.Lit) and isinstance(v.value, str)
                                                              for v in values.items)):
                    raise self.error(f"{key.text} takes a list of strings", key)
                if key.text.lower() == "nameprefix":
                    prefixes += [str(v.value) for v in values.items if isinstance(v, A.Lit)]
            if self.tok.kind == "COMMA":
                self.next()
            elif self.tok.kind != "RPAREN":
                raise self.unexpected("',' or ')'")
        self.next()
        if not 1 <= len(prefixes) <= MAX_SOURCE_PREFIXES:
            raise self.error(f"SOURCE needs 1 to {MAX_SOURCE_PREFIXES} namePrefix values")
        return A.Source(prefixes, cls)

    def items(self, allow_alias: bool = True) -> list[A.Item]:
        out = []
        while True:
            start = self.tok.start
            e = self.expr()
            end = self.toks[self.i - 1].end
            name = self.text[start:end].strip()
            if isinstance(e, A.Field):
                name = e.name
            if allow_alias and self.is_kw("as"):
                self.next()
                name = self.name()
            out.append(A.Item(e, name, start, end - 1))
            if self.tok.kind != "COMMA":
                return out
            self.next()
            if self.tok.kind in ("PIPE", "EOF"):  # trailing comma
                return out

    def name(self) -> str:
        t = self.tok
        if t.kind == "IDENT":
            self.next()
            return t.text
        if t.kind == "QIDENT":
            self.next()
            return str(t.value)
        raise self.unexpected("a field name")

    def stats(self) -> A.Stats:
        items = self.items()
        for it in items:
            if not A.has_aggregate(it.expr):
                raise QuerySyntaxError(f"stats expression '{self.text[it.start:it.end + 1]}' must use an aggregation "
                                       "function",
                                       it.start, it.end, self.text)
        by: list[A.Item] = []
        if self.is_kw("by"):
            self.next()
            by = self.items()
        return A.Stats(items, by)

    def sort(self) -> A.Sort:
        keys = []
        while True:
            e = self.expr()
            desc = False
            if self.is_kw("asc", "desc"):
                desc = self.next().text.lower() == "desc"
            keys.append(A.SortKey(e, desc))
            if self.tok.kind != "COMMA":
                return A.Sort(keys)
            self.next()

    def parse_cmd(self) -> A.Parse:
        source: A.Expr = A.Field("@message")
        if self.tok.kind not in ("STRING", "REGEX"):
            source = self.primary()
        t = self.tok
        if t.kind == "REGEX":
            self.next()
            try:
                rx = compile_regex(str(t.value))
            except re.error as e:
                raise self.error(f"invalid regular expression: {e}", t) from None
            names = list(rx.groupindex)
            if not names:
                raise self.error("a parse regular expression needs named capture groups (?<name>...)", t)
            return A.Parse(source, rx, names)
        if t.kind != "STRING":
            raise self.unexpected("a glob pattern string or a /regex/")
        self.next()
        glob = str(t.value)
        stars = glob.count("*")
        if stars == 0:
            raise self.error("a parse pattern needs at least one '*'", t)
        if not self.is_kw("as"):
            raise self.unexpected("'as' and field names")
        self.next()
        names = [self.name()]
        while self.tok.kind == "COMMA":
            self.next()
            names.append(self.name())
        if len(names) != stars:
            raise self.error(f"the pattern has {stars} '*' but {len(names)} field names are given", t)
        parts = [re.escape(p) for p in glob.split("*")]
        body = "".join(p + ("(.*?)" if k < stars - 1 else "(.*)") for k, p in enumerate(parts[:-1])) + parts[-1]
        return A.Parse(source, re.compile(body, re.S), names)

    # ---- expressions ---------------------------------------------------------------------------------------
    def expr(self) -> A.Expr:
        left = self.and_expr()
        while self.is_kw("or"):
            self.next()
            left = A.Binary("or", left, self.and_expr())
        return left

    def and_expr(self) -> A.Expr:
        left = self.not_expr()
        while self.is_kw("and"):
            self.next()
            left = A.Binary("and", left, self.not_expr())
        return left

    def not_expr(self) -> A.Expr:
        if self.is_kw("not") or (self.tok.kind == "OP" and self.tok.text == "!"):
            self.next()
            return A.Unary("not", self.not_expr())
        return self.comparison()

    def comparison(self) -> A.Expr:
        left = self.additive()
        t = self.tok
        if t.kind == "OP" and t.text in ("=", "!=", "<", "<=", ">", ">="):
            self.next()
            return A.Binary(t.text, left, self.additive())
        if t.kind == "OP" and t.text == "=~":
            self.next()
            return A.Binary("=~", left, self.pattern_operand())
        negate = False
        if self.is_kw("not") and self.toks[self.i + 1].kind == "IDENT" and \
                self.toks[self.i + 1].text.lower() in ("like", "in"):
            self.next()
            negate = True
        if self.is_kw("like"):
            self.next()
            return A.Binary("notlike" if negate else "like", left, self.pattern_operand())
        if self.is_kw("in"):
            self.next()
            if self.tok.kind != "LBRACKET":
                raise self.unexpected("'[' (a list of values)")
            return A.Binary("notin" if negate else "in", left, self.primary())
        return left

    def pattern_operand(self) -> A.Expr:
        if self.tok.kind == "REGEX":
            return self.primary()
        return self.additive()

    def additive(self) -> A.Expr:
        left = self.multiplicative()
        while self.tok.kind == "OP" and self.tok.text in ("+", "-"):
            op = self.next().text
            left = A.Binary(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> A.Expr:
        left = self.power()
        while self.tok.kind == "OP" and self.tok.text in ("*", "/", "%"):
            op = self.next().text
            left = A.Binary(op, left, self.power())
        return left

    def power(self) -> A.Expr:
        base = self.unary()
        if self.tok.kind == "OP" and self.tok.text == "^":
            self.next()
            return A.Binary("^", base, self.power())
        return base

    def unary(self) -> A.Expr:
        if self.tok.kind == "OP" and self.tok.text == "-":
            self.next()
            operand = self.unary()
            if isinstance(operand, A.Lit) and isinstance(operand.value, (int, float)):
                return A.Lit(-operand.value)
            return A.Unary("-", operand)
        return self.primary()

    def primary(self) -> A.Expr:
        t = self.tok
        if t.kind == "NUMBER":
            self.next()
            return A.Lit(t.value)
        if t.kind == "STRING":
            self.next()
            return A.Lit(t.value)
        if t.kind == "REGEX":
            self.next()
            try:
                return A.Regex(str(t.value), compile_regex(str(t.value)))
            except re.error as e:
                raise self.error(f"invalid regular expression: {e}", t) from None
        if t.kind == "DURATION":
            self.next()
            amount, unit_text = t.value  # type: ignore[misc]
            unit = unit_of(unit_text)
            if unit is None:
                raise self.error(f"unknown time unit {unit_text!r}", t)
            return A.Duration(float(amount), unit)
        if t.kind == "QIDENT":
            self.next()
            return A.Field(str(t.value))
        if t.kind == "LPAREN":
            self.next()
            e = self.expr()
            self.expect("RPAREN", "')'")
            return e
        if t.kind == "LBRACKET":
            self.next()
            items: list[A.Expr] = []
            while self.tok.kind != "RBRACKET":
                items.append(self.expr())
                if self.tok.kind == "COMMA":
                    self.next()
                elif self.tok.kind != "RBRACKET":
                    raise self.unexpected("',' or ']'")
            self.next()
            return A.ListLit(items)
        if t.kind == "IDENT":
            low = t.text.lower()
            if low in ("and", "or", "not", "as", "by", "like", "in", "asc", "desc") and \
                    self.toks[self.i + 1].kind != "LPAREN":
                raise self.unexpected("a field, value or function")
            self.next()
            if self.tok.kind == "LPAREN":
                return self.call(t)
            if low in ("true", "false"):
                return A.Lit(low == "true")
            return A.Field(t.text)
        raise self.unexpected("a field, value or function")

    def call(self, name_tok: Token) -> A.Call:
        name = name_tok.text.lower()
        if name not in KNOWN_FUNCTIONS and name not in A.AGGREGATES:
            raise self.error(f"unknown function '{name_tok.text}'", name_tok)
        self.next()  # (
        args: list[A.Expr] = []
        while self.tok.kind != "RPAREN":
            if self.tok.kind == "OP" and self.tok.text == "*" and \
                    self.toks[self.i + 1].kind in ("RPAREN", "COMMA"):
                self.next()
                args.append(A.Star())
            else:
                args.append(self.expr())
            if self.tok.kind == "COMMA":
                self.next()
            elif self.tok.kind != "RPAREN":
                raise self.unexpected("',' or ')'")
        end = self.next().end
        lo, hi = arity(name)
        if not lo <= len(args) <= hi:
            raise QuerySyntaxError(f"function '{name_tok.text}' takes {lo if lo == hi else f'{lo} to {hi}'} "
                                   f"argument(s), {len(args)} given", name_tok.start, end - 1, self.text)
        if any(isinstance(a, A.Star) for a in args) and name != "count":
            raise QuerySyntaxError("'*' is only valid in count(*)", name_tok.start, end - 1, self.text)
        return A.Call(name, args, name_tok.start, end)


def parse_query(text: str) -> A.Query:
    """Parses `text`; raises QuerySyntaxError with the offending character span."""
    q = Parser(text).parse()
    q.commands = [c for c in q.commands if not (isinstance(c, A.Fields) and not c.items)]
    return q
