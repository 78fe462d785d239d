"""Query compile errors, carrying the character span AWS reports in `queryCompileError.location`."""

from __future__ import annotations


class QuerySyntaxError(Exception):
    def __init__(self, message: str, start: int, end: int, text: str = "") -> None:
        self.start = start
        self.end = end
        line = text.count("\n", 0, start) + 1
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        self.line, self.column = line, col
        self.detail = message
        super().__init__(f"{message} at line {line}, position {col} (character offset {start})")
