"""Tokens of the Logs Insights language."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import QuerySyntaxError

# kinds: IDENT, QIDENT (back-quoted), STRING, REGEX, NUMBER, DURATION, OP, PIPE, COMMA, LPAREN, RPAREN,
# LBRACKET, RBRACKET, EOF
_OPS = ("=~", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "^", "%", "!")
_IDENT_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_@$")
_IDENT_CHARS = _IDENT_START | set("0123456789.")
_DIGITS = set("0123456789")
_UNIT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# after these token kinds a `/` is division; elsewhere it opens a regex literal
_OPERAND_END = {"IDENT", "QIDENT", "STRING", "REGEX", "NUMBER", "DURATION", "RPAREN", "RBRACKET"}


_KEYWORDS = {"like", "and", "or", "not", "in", "filter", "parse", "fields", "display", "stats", "by", "sort", "as"}


def _regex_may_start(toks: list["Token"]) -> bool:
    """A `/` opens a regex literal unless it follows an operand (then it divides); the source field of
    `parse FIELD /re/` is an operand followed by a regex."""
    if not toks:
        return True
    prev = toks[-1]
    if prev.kind == "IDENT" and prev.text.lower() in _KEYWORDS:
        return True
    if prev.kind in ("IDENT", "QIDENT") and len(toks) >= 2 and toks[-2].kind == "IDENT" and \
            toks[-2].text.lower() == "parse":
        return True
    return prev.kind not in _OPERAND_END


@dataclass(slots=True)
class Token:
    kind: str
    value: object
    start: int
    end: int
    text: str

    @property
    def lower(self) -> str:
        return self.text.lower() if self.kind == "IDENT" else ""


def tokenize(src: str) -> list[Token]:
    toks: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "#":  # comment to end of line
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        start = i
        if c == "|":
            toks.append(Token("PIPE", "|", i, i + 1, "|"))
            i += 1
        elif c == ",":
            toks.append(Token("COMMA", ",", i, i + 1, ","))
            i += 1
        elif c in "()[]:":
            kind = {"(": "LPAREN", ")": "RPAREN", "[": "LBRACKET", "]": "RBRACKET", ":": "COLON"}[c]
            toks.append(Token(kind, c, i, i + 1, c))
            i += 1
        elif c in "'\"":
            i, value = _string(src, i)
            toks.append(Token("STRING", value, start, i, src[start:i]))
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise QuerySyntaxError("unterminated back-quoted field name", i, n, src)
            toks.append(Token("QIDENT", src[i + 1:j], i, j + 1, src[i:j + 1]))
            i = j + 1
        elif c == "/" and _regex_may_start(toks):
            i, value = _regex(src, i)
            toks.append(Token("REGEX", value, start, i, src[start:i]))
        elif c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            j = i
            while j < n and src[j] in _DIGITS:
                j += 1
            if j < n and src[j] == "." and j + 1 < n and src[j + 1] in _DIGITS:
                j += 1
                while j < n and src[j] in _DIGITS:
                    j += 1
            if j < n and src[j] in "eE" and j + 1 < n and (src[j + 1] in _DIGITS or src[j + 1] in "+-"):
                k = j + 1 + (src[j + 1] in "+-")
                if k < n and src[k] in _DIGITS:
                    j = k
                    while j < n and src[j] in _DIGITS:
                        j += 1
            num_text = src[i:j]
            number: float | int = float(num_text) if any(ch in num_text for ch in ".eE") else int(num_text)
            if j < n and src[j] in _UNIT_CHARS:  # 5m, 1h, 30sec
                k = j
                while k < n and src[k] in _UNIT_CHARS:
                    k += 1
                if k < n and src[k] in _IDENT_CHARS:
                    raise QuerySyntaxError(f"unexpected symbol {src[i:k + 1]!r}", i, k + 1, src)
                toks.append(Token("DURATION", (number, src[j:k]), i, k, src[i:k]))
                i = k
            else:
                toks.append(Token("NUMBER", number, i, j, num_text))
                i = j
        elif c in _IDENT_START:
            j = i + 1
            while j < n and src[j] in _IDENT_CHARS:
                j += 1
            while src[j - 1] == "." and j - 1 > i:  # a trailing dot is not part of a name
                j -= 1
            toks.append(Token("IDENT", src[i:j], i, j, src[i:j]))
            i = j
        else:
            for op in _OPS:
                if src.startswith(op, i):
                    toks.append(Token("OP", op, i, i + len(op), op))
                    i += len(op)
                    break
            else:
                raise QuerySyntaxError(f"unexpected symbol {c!r}", i, i + 1, src)
    toks.append(Token("EOF", None, n, n, ""))
    return toks


def _string(src: str, i: int) -> tuple[int, str]:
    quote, out, j, n = src[i], [], i + 1, len(src)
    while j < n:
        c = src[j]
        if c == "\\" and j + 1 < n:
            nxt = src[j + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            j += 2
            continue
        if c == quote:
            return j + 1, "".join(out)
        out.append(c)
        j += 1
    raise QuerySyntaxError("unterminated string literal", i, n, src)


def _regex(src: str, i: int) -> tuple[int, str]:
    j, n = i + 1, len(src)
    while j < n:
        c = src[j]
        if c == "\\" and j + 1 < n:
            j += 2
            continue
        if c == "/":
            return j + 1, src[i + 1:j].replace("\\/", "/")
        j += 1
    raise QuerySyntaxError("unterminated regular expression", i, n, src)
