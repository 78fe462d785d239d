"""The Logs Insights query language: lexer, parser, planner and executor."""

from .errors import QuerySyntaxError
from .parser import parse_query

__all__ = ["QuerySyntaxError", "parse_query"]
