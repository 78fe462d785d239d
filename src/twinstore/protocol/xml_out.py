"""Response serialization for rest-xml services, compiled from botocore shapes.

Each structure shape becomes one generated Python function that appends XML fragments to a list:
no per-member interpretation at request time, which keeps a 1,000-entry listing cheap.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from .timefmt import iso8601, rfc1123

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

# element text: quotes need no escaping (S3 writes ETags as "..." verbatim); attributes use `esc_attr`
_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ESC_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", '"': "&quot;"})


_NEEDS_ESC = re.compile(r"[&<>\r]").search


def esc(value: str) -> str:
    return value.translate(_ESC) if _NEEDS_ESC(value) else value


def esc_attr(value: str) -> str:
    return value.translate(_ESC_ATTR)


def fmt_ts(value: Any) -> str:
    if isinstance(value, int):
        return iso8601(value)
    if hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return str(value)


def fmt_bool(value: Any) -> str:
    return "true" if value else "false"


Writer = Callable[[Any, Callable[[str], None]], None]


class Raw(str):
    """A list member's elements already written as XML (e.g. by a rows writer): emitted verbatim."""


class XmlWriterCompiler:
    """Generates and caches one writer function per structure shape."""

    def __init__(self) -> None:
        self._writers: dict[str, Writer] = {}
        self._rows: dict[tuple[Any, ...], RowsWriter] = {}
        self._ns: dict[str, Any] = {"esc": esc, "esc_attr": esc_attr, "fmt_ts": fmt_ts, "fmt_bool": fmt_bool,
                                    "W": self._writers, "Raw": Raw,
                                    "iso8601": iso8601}

    def writer(self, shape: StructureShape) -> Writer:
        fn = self._writers.get(shape.name)
        if fn is None:
            self._writers[shape.name] = self._lazy(shape)  # placeholder for recursive shapes
            fn = self._compile(shape)
            self._writers[shape.name] = fn
        return fn

    def _lazy(self, shape: StructureShape) -> Writer:
        def call(v: Any, a: Callable[[str], None]) -> None:
            self._writers[shape.name](v, a)
        return call

    def _scalar_expr(self, shape: Shape, var: str) -> str:
        t = shape.type_name
        if t == "string":
            if shape.enum:  # a known enum value is an XML-safe word: skip the escape scan
                self._ns["E_" + shape.name] = frozenset(shape.enum)
                return f"({var} if {var} in E_{shape.name} else esc({var}))"
            return f"esc({var})"
        if t in ("integer", "long", "float", "double"):
            return f"str({var})"
        if t == "boolean":
            return f"fmt_bool({var})"
        if t == "timestamp":
            return f"fmt_ts({var})"
        return f"esc(str({var}))"

    def _start_tag(self, name: str, shape: Shape, var: str) -> str:
        """Python expression for a start tag; structures with xmlAttribute members carry attributes."""
        if isinstance(shape, StructureShape):
            attrs = [(m, s) for m, s in shape.members.items() if s.serialization.get("xmlAttribute")]
            if attrs:
                ns = shape.serialization.get("xmlNamespace") or {}
                decl = f' xmlns:{ns["prefix"]}="{ns["uri"]}"' if ns.get("prefix") else ""
                expr = repr(f"<{name}{decl}")
                for m, s in attrs:
                    attr = s.serialization.get("name", m)
                    expr += f" + ' {attr}=\"' + esc_attr({var}.get({m!r}, '')) + '\"'"
                return expr + " + '>'"
        return repr(f"<{name}>")

    def _emit_value(self, lines: list[str], indent: str, name: str, shape: Shape, var: str, depth: int) -> None:
        if isinstance(shape, StructureShape):
            self.writer(shape)
            lines.append(f"{indent}a({self._start_tag(name, shape, var)})")
            lines.append(f"{indent}W[{shape.name!r}]({var}, a)")
            lines.append(f"{indent}a({'</' + name + '>'!r})")
        elif isinstance(shape, ListShape):
            member = shape.member
            item = f"i{depth}"
            if shape.serialization.get("flattened"):
                inner_name = name
                lines.append(f"{indent}for {item} in {var}:")
                self._emit_value(lines, indent + "    ", inner_name, member, item, depth + 1)
            else:
                inner_name = member.serialization.get("name", "member")
                lines.append(f"{indent}a({'<' + name + '>'!r})")
                lines.append(f"{indent}for {item} in {var}:")
                self._emit_value(lines, indent + "    ", inner_name, member, item, depth + 1)
                lines.append(f"{indent}a({'</' + name + '>'!r})")
        elif isinstance(shape, MapShape):
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            k, v = f"k{depth}", f"v{depth}"
            flat = shape.serialization.get("flattened")
            if not flat:
                lines.append(f"{indent}a({'<' + name + '>'!r})")
            lines.append(f"{indent}for {k}, {v} in {var}.items():")
            lines.append(f"{indent}    a({('<' + name + '>') if flat else '<entry>'!r})")
            self._emit_value(lines, indent + "    ", kname, shape.key, k, depth + 1)
            self._emit_value(lines, indent + "    ", vname, shape.value, v, depth + 1)
            lines.append(f"{indent}    a({('</' + name + '>') if flat else '</entry>'!r})")
            if not flat:
                lines.append(f"{indent}a({'</' + name + '>'!r})")
        else:
            lines.append(f"{indent}a({'<' + name + '>'!r} + {self._scalar_expr(shape, var)} + "
                         f"{'</' + name + '>'!r})")

    def _compile(self, shape: StructureShape) -> Writer:
        fname = "w_" + shape.name
        lines = [f"def {fname}(v, a):", "    g = v.get"]
        for mname, mshape in shape.members.items():
            ser = mshape.serialization
            if ser.get("location") or ser.get("xmlAttribute"):
                continue
            name = ser.get("name", mname)
            lines.append(f"    x = g({mname!r})")
            if isinstance(mshape, ListShape):
                lines.append("    if type(x) is Raw:")
                lines.append("        a(x)")
                lines.append("    elif x is not None:")
            else:
                lines.append("    if x is not None:")
            self._emit_value(lines, "        ", name, mshape, "x", 0)
        lines.append("    return None")
        code = "\n".join(lines)
        exec(compile(code, f"<xml writer {shape.name}>", "exec"), self._ns)
        return self._ns[fname]  # type: ignore[no-any-return]


    def rows_writer(self, shape: StructureShape, element: str, columns: tuple[str, ...],
                    optional: tuple[str, ...] = (), converted: tuple[str, ...] = ()) -> RowsWriter:
        """A writer for many `<element>` entries of `shape` given as flat tuples, for listings of a thousand
        entries: one generated comprehension building one f-string per entry (no per-entry dict, no
        per-member call). `columns`: the member each tuple position holds. Members in `optional` may be None
        (absent); the others are always present. A list member's column holds its single element. Members in
        `converted` go through the converter passed for them (in that order) before formatting. Timestamps are
        int microseconds.
        Returns `fn(rows, *converters) -> str`."""
        ckey = (shape.name, element, columns, optional, converted)
        fn = self._rows.get(ckey)
        if fn is not None:
            return fn
        fname = f"rows_{len(self._rows)}"
        var = {m: f"c{i}" for i, m in enumerate(columns)}
        conv = {m: f"k{i}" for i, m in enumerate(converted)}
        text = f"<{element}>"
        for mname, mshape in shape.members.items():
            ser = mshape.serialization
            if mname not in var or ser.get("location") or ser.get("xmlAttribute"):
                continue
            v = var[mname]
            inner = f"{conv[mname]}({v})" if mname in conv else v
            name = ser.get("name", mname)
            if isinstance(mshape, ListShape) and not isinstance(mshape.member, (StructureShape, ListShape, MapShape)):
                mshape, name = mshape.member, (name if mshape.serialization.get("flattened")
                                               else mshape.member.serialization.get("name", "member"))
                wrap = "" if ser.get("flattened") else ser.get("name", mname)
            else:
                wrap = ""
            if isinstance(mshape, (StructureShape, ListShape, MapShape)):
                sub = f"m_{fname}_{mname}"
                lines = [f"def {sub}(x):", "    p = []", "    a = p.append"]
                self._emit_value(lines, "    ", name, mshape, "x", 0)
                lines.append("    return ''.join(p)")
                exec(compile("\n".join(lines), f"<xml member {shape.name}.{mname}>", "exec"), self._ns)
                open_, expr, close = "", f"{sub}({inner})", ""
            else:
                open_, close = f"<{wrap}><{name}>" if wrap else f"<{name}>", f"</{name}></{wrap}>" if wrap else f"</{name}>"
                expr = self._scalar_expr(mshape, inner)
            if mname not in optional and mshape.type_name in ("integer", "long"):
                expr = inner  # the f-string's own formatting: str() without the call
            elif mshape.type_name == "timestamp":
                expr = f"iso8601({inner})"  # rows carry timestamps as int microseconds
            if mname in optional:
                text += "{(" + f"{open_!r} + {expr} + {close!r}) if {v} is not None else ''" + "}"
            else:
                text += open_ + "{" + expr + "}" + close
        text += f"</{element}>"
        args = "".join(f", {conv[m]}" for m in converted)
        code = "\n".join([f"def {fname}(rows{args}):",
                           f"    return ''.join([f{text!r} for {', '.join(var[m] for m in columns)}, in rows])"])
        exec(compile(code, f"<xml rows writer {shape.name}>", "exec"), self._ns)
        fn = self._rows[ckey] = self._ns[fname]
        return fn  # type: ignore[no-any-return]


RowsWriter = Callable[..., None]

_COMPILERS: dict[str, XmlWriterCompiler] = {}
_COMPILER = _COMPILERS["s3"] = XmlWriterCompiler()


def writer_for(shape: StructureShape, service: str = "s3") -> Writer:
    """The compiled writer of a structure shape (one cache per service: shape names are per-service)."""
    comp = _COMPILERS.get(service)
    if comp is None:
        comp = _COMPILERS[service] = XmlWriterCompiler()
    return comp.writer(shape)


def rows_writer_for(shape: StructureShape, element: str, columns: tuple[str, ...], optional: tuple[str, ...] = (),
                    converted: tuple[str, ...] = (), service: str = "s3") -> RowsWriter:
    """See `XmlWriterCompiler.rows_writer`."""
    writer_for(shape, service)  # creates the service's compiler
    return _COMPILERS[service].rows_writer(shape, element, columns, optional, converted)


def _header_formatter(shape: Shape) -> Callable[[Any], str]:
    t = shape.type_name
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat")
        if fmt == "iso8601":
            return lambda v: fmt_ts(v)
        return lambda v: rfc1123(v) if isinstance(v, int) else str(v)
    if t == "boolean":
        return fmt_bool
    return str


class ResponseSerializer:
    """Turns an operation's output dict into (status, headers, body bytes | None)."""

    def __init__(self, op: OperationModel, root_name: str | None = None) -> None:
        self.op = op
        out = op.output_shape
        self.headers: list[tuple[str, str, Callable[[Any], str]]] = []
        self.prefix_maps: list[tuple[str, str]] = []
        self.payload_kind: str | None = None
        self.payload_member: str | None = None
        self.root: str | None = None
        self.body_writer: Writer | None = None
        if out is None:
            return
        for mname, mshape in out.members.items():
            loc = mshape.serialization.get("location")
            if loc == "header":
                self.headers.append((mname, mshape.serialization["name"], _header_formatter(mshape)))
            elif loc == "headers":
                self.prefix_maps.append((mname, mshape.serialization["name"]))
        payload = out.serialization.get("payload")
        if payload:
            pshape = out.members[payload]
            self.payload_member = payload
            if isinstance(pshape, StructureShape):
                self.payload_kind = "xml"
                self.root = pshape.serialization.get("name", pshape.name)
                self.body_writer = _COMPILER.writer(pshape)
            else:
                self.payload_kind = "raw"
        else:
            body_members = [m for m, s in out.members.items() if not s.serialization.get("location")]
            if body_members:
                self.payload_kind = "xml"
                self.root = root_name or out.name.removesuffix("Output") + "Result"
                self.body_writer = _COMPILER.writer(out)

    def header_list(self, output: dict[str, Any]) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        for mname, hname, fmt in self.headers:
            v = output.get(mname)
            if v is not None:
                headers.append((hname, fmt(v)))
        for mname, prefix in self.prefix_maps:
            for k, v in (output.get(mname) or {}).items():
                headers.append((prefix + k, v))
        return headers

    def body(self, output: dict[str, Any], extra_children: list[str] | None = None) -> bytes | None:
        """`extra_children`: XML fragments appended inside the root element, for the rare response whose
        element order the model cannot express (ListObjectVersions interleaves two lists)."""
        if self.payload_kind == "xml":
            assert self.body_writer is not None
            value = output.get(self.payload_member) if self.payload_member else output
            if value is None:
                return None
            parts: list[str] = [XML_DECL, f'<{self.root} xmlns="{S3_NS}">']
            self.body_writer(value, parts.append)
            if extra_children:
                parts.extend(extra_children)
            parts.append(f"</{self.root}>")
            return "".join(parts).encode()
        if self.payload_kind == "raw" and self.payload_member:
            value = output.get(self.payload_member)
            if isinstance(value, str):
                return value.encode()
            return value if isinstance(value, bytes) else None
        return None
