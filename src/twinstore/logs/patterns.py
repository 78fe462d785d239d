"""Filter patterns of FilterLogEvents (and metric filters): terms, "quoted phrases", `?` alternatives,
`-` exclusions, `%regex%`, and JSON patterns such as `{ ($.eventName = "Put*") && ($.bytes > 10) }`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ..protocol.errors import AWSError

Matcher = Callable[[str], bool]


def _invalid(msg: str) -> AWSError:
    return AWSError("InvalidParameterException", f"Invalid filter pattern: {msg}", status=400)


def compile_pattern(pattern: str | None) -> Matcher:
    text = (pattern or "").strip()
    if not text:
        return lambda m: True
    if text.startswith("{"):
        if not text.endswith("}"):
            raise _invalid("a JSON pattern must end with '}'")
        pred = _JsonParser(text[1:-1]).parse()

        def json_match(m: str) -> bool:
            try:
                doc = orjson.loads(m)
            except orjson.JSONDecodeError:
                return False
            return isinstance(doc, dict) and pred(doc)
        return json_match
    if text.startswith("["):
        raise _invalid("space-delimited patterns ([...]) are not supported by twinstore")
    return _terms(text)


def _terms(text: str) -> Matcher:
    required: list[Matcher] = []
    optional: list[Matcher] = []
    excluded: list[Matcher] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        kind = ""
        if text[i] in "?-" and i + 1 < n and not text[i + 1].isspace():
            kind = text[i]
            i += 1
        if text[i] == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise _invalid("unterminated quoted phrase")
            term, i = text[i + 1:j], j + 1
            m: Matcher = (lambda t: lambda s: t in s)(term)
        elif text[i] == "%":
            j = text.find("%", i + 1)
            if j < 0:
                raise _invalid("unterminated %regex%")
            try:
                rx = re.compile(text[i + 1:j])
            except re.error as e:
                raise _invalid(f"bad regular expression: {e}") from None
            i = j + 1
            m = (lambda r: lambda s: r.search(s) is not None)(rx)
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            term, i = text[i:j], j
            m = (lambda t: lambda s: t in s)(term)
        {"": required, "?": optional, "-": excluded}[kind].append(m)

    def match(s: str) -> bool:
        if optional and not any(f(s) for f in optional):
            return False
        return all(f(s) for f in required) and not any(f(s) for f in excluded)
    return match


@dataclass
class _Tok:
    kind: str
    value: Any
    pos: int


_MISSING = object()


class _JsonParser:
    _rx = re.compile(r"""\s*(?:(?P<sel>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\]|\.\*|\[\*\])*)|(?P<str>"(?:[^"\\]|\\.)*")|
                          (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|
                          (?P<word>[A-Za-z_][A-Za-z0-9_*\-]*))""", re.X)

    def __init__(self, text: str) -> None:
        self.toks: list[_Tok] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = self._rx.match(text, pos)
            if not m or m.end() == pos:
                raise _invalid(f"unexpected character at position {pos + 1}")
            kind = m.lastgroup or ""
            val = m.group(kind)
            if kind == "str":
                val = orjson.loads(val)
            elif kind == "num":
                val = float(val) if any(c in val for c in ".eE") else int(val)
            self.toks.append(_Tok(kind, val, m.start(kind)))
            pos = m.end()
        self.toks.append(_Tok("end", None, len(text)))
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        p = self.or_()
        if self.peek().kind != "end":
            raise _invalid(f"unexpected {self.peek().value!r}")
        return p

    def or_(self) -> Callable[[dict[str, Any]], bool]:
        left = self.and_()
        while self.peek().kind == "op" and self.peek().value == "||":
            self.take()
            a, b = left, self.and_()
            left = (lambda a, b: lambda d: a(d) or b(d))(a, b)
        return left

    def and_(self) -> Callable[[dict[str, Any]], bool]:
        left = self.atom()
        while self.peek().kind == "op" and self.peek().value == "&&":
            self.take()
            a, b = left, self.atom()
            left = (lambda a, b: lambda d: a(d) and b(d))(a, b)
        return left

    def atom(self) -> Callable[[dict[str, Any]], bool]:
        t = self.take()
        if t.kind == "op" and t.value == "(":
            inner = self.or_()
            if self.take().value != ")":
                raise _invalid("missing ')'")
            return inner
        if t.kind != "sel":
            raise _invalid(f"expected a selector such as $.eventName, found {t.value!r}")
        path = _path(t.value)
        op = self.take()
        if op.kind == "word" and op.value.upper() == "IS":
            what = self.take()
            word = str(what.value).upper()
            if word == "NULL":
                return lambda d: _get(d, path) is None
            if word in ("TRUE", "FALSE"):
                want = word == "TRUE"
                return lambda d: _get(d, path) is want
            raise _invalid("expected NULL, TRUE or FALSE after IS")
        if op.kind == "word" and op.value.upper() == "NOT":
            if str(self.take().value).upper() != "EXISTS":
                raise _invalid("expected EXISTS after NOT")
            return lambda d: _get(d, path) is _MISSING
        if op.kind != "op" or op.value not in ("=", "!=", "<", "<=", ">", ">="):
            raise _invalid(f"expected a comparison after {t.value}")
        v = self.take()
        if v.kind not in ("str", "num", "word"):
            raise _invalid("expected a value")
        return _comparison(path, op.value, v)


def _path(sel: str) -> list[Any]:
    parts: list[Any] = []
    for m in re.finditer(r"\.([A-Za-z0-9_@\-]+|\*)|\[(\d+|\*)\]", sel):
        if m.group(1) is not None:
            parts.append(m.group(1))
        else:
            parts.append(int(m.group(2)) if m.group(2) != "*" else "*")
    return parts


def _get(doc: Any, path: list[Any]) -> Any:
    cur = doc
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or p >= len(cur):
                return _MISSING
            cur = cur[p]
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            return _MISSING
    return cur


def _comparison(path: list[Any], op: str, tok: _Tok) -> Callable[[dict[str, Any]], bool]:
    if tok.kind == "num":
        num = tok.value
        cmp = {"=": lambda x: x == num, "!=": lambda x: x != num, "<": lambda x: x < num,
               "<=": lambda x: x <= num, ">": lambda x: x > num, ">=": lambda x: x >= num}[op]

        def numeric(d: dict[str, Any]) -> bool:
            v = _get(d, path)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                if isinstance(v, str):
                    try:
                        return bool(cmp(float(v)))
                    except ValueError:
                        return False
                return False
            return bool(cmp(v))
        return numeric
    if op not in ("=", "!="):
        raise _invalid("strings can only be compared with = or !=")
    want = str(tok.value)
    if tok.kind == "word" and want.upper() == "NULL":
        return (lambda d: _get(d, path) is None) if op == "=" else (lambda d: _get(d, path) not in (None, _MISSING))
    glob = "*" in want
    rx = re.compile("".join(".*" if c == "*" else re.escape(c) for c in want) + r"\Z", re.S) if glob else None

    def string(d: dict[str, Any]) -> bool:
        v = _get(d, path)
        if v is _MISSING or v is None or isinstance(v, (dict, list)):
            return False
        s = ("true" if v else "false") if isinstance(v, bool) else str(v)
        hit = rx.match(s) is not None if rx is not None else s == want
        return hit if op == "=" else not hit
    return string
