"""A reader for Caffe's .prototxt files (protobuf text format), without protobuf.

The grammar Caffe files use is small: ``name: value``, ``name { ... }`` or ``name: { ... }``,
``#`` comments, quoted strings, bare enum names, numbers, true/false and the ``[a, b]`` list form.
The result is the same dict form the binary reader produces (see `netspec`), converted with the
same schema; fields the schema does not know are kept untyped and never read.
"""

from __future__ import annotations

import re
from pathlib import Path

from tf_style.caffe.netspec import ENUMS, SCHEMA, CaffeError

_TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?(?![\w.]))
    |(?P<ident>-?[A-Za-z_][\w.]*)
    |(?P<punct>[{}\[\]:;,<>])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _tokens(text: str, source: str) -> list[tuple[str, object, int]]:
    out = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise CaffeError(f"{source}:{line}: unexpected character {text[pos]!r} in the prototxt")
        kind = m.lastgroup
        s = m.group()
        if kind == "string":
            body = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), s[1:-1])
            out.append(("string", body, line))
        elif kind == "number":
            s = s.rstrip("fF")
            is_int = re.fullmatch(r"[-+]?\d+", s) is not None
            out.append(("number", int(s) if is_int else float(s), line))
        elif kind in ("ident", "punct"):
            out.append((kind, s, line))
        line += s.count("\n")
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens, source: str):
        self.tokens = tokens
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> CaffeError:
        line = self.tokens[min(self.pos, len(self.tokens) - 1)][2] if self.tokens else 1
        return CaffeError(f"{self.source}:{line}: {what} in the prototxt")

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None, 0)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise self.fail(f"expected {value!r}" if value else "unexpected end of file")
        self.pos += 1
        return tok

    def message(self, closing: str | None) -> dict:
        out: dict = {}
        while True:
            kind, value, _ = self.peek()
            if kind is None:
                if closing:
                    raise self.fail(f"missing {closing!r}")
                return out
            if kind == "punct" and value == closing:
                self.pos += 1
                return out
            if kind != "ident":
                raise self.fail(f"expected a field name, found {value!r}")
            self.pos += 1
            name = value
            has_colon = self.peek()[1] == ":" and self.peek()[0] == "punct"
            if has_colon:
                self.pos += 1
            kind, value, _ = self.peek()
            if kind == "punct" and value in ("{", "<"):
                self.pos += 1
                values = [self.message("}" if value == "{" else ">")]
            elif not has_colon:
                raise self.fail(f"expected ':' or '{{' after {name!r}")
            elif kind == "punct" and value == "[":
                self.pos += 1
                values = []
                while self.peek()[1] != "]":
                    values.append(self.scalar())
                    if self.peek()[1] == ",":
                        self.pos += 1
                self.take("]")
            else:
                values = [self.scalar()]
            out.setdefault(name, []).extend(values)
            if self.peek()[0] == "punct" and self.peek()[1] in (";", ","):
                self.pos += 1

    def scalar(self):
        kind, value, _ = self.take()
        if kind == "punct":
            raise self.fail(f"expected a value, found {value!r}")
        if kind == "string":
            # Adjacent strings concatenate, as in protobuf's text format.
            while self.peek()[0] == "string":
                value += self.take()[1]
        return value


def _convert(msg: dict, msg_type: str, where: str) -> dict:
    """Types the parsed values with the schema shared with the binary reader."""
    fields = {name: kind for name, kind in SCHEMA[msg_type].values()}
    out = {}
    for name, values in msg.items():
        kind = fields.get(name)
        if kind is None:
            out[name] = values
            continue
        out[name] = [_value(v, kind, f"{where}.{name}") for v in values]
    return out


def _value(v, kind: str, where: str):
    if kind in SCHEMA:
        if not isinstance(v, dict):
            raise CaffeError(f"{where} must be a {{ ... }} block")
        return _convert(v, kind, where)
    if isinstance(v, dict):
        raise CaffeError(f"{where} must be a value, not a {{ ... }} block")
    if kind == "string":
        if not isinstance(v, str):
            raise CaffeError(f"{where} must be a quoted string")
        return v
    if kind.startswith("enum:"):
        names = ENUMS[kind[5:]]
        if isinstance(v, int) and 0 <= v < len(names):
            return names[v]
        if isinstance(v, str) and v in names:
            return v
        raise CaffeError(f"{where}: {v!r} is not one of {', '.join(names)}")
    if kind == "bool":
        if v in ("true", "True", "t", 1):
            return True
        if v in ("false", "False", "f", 0):
            return False
        raise CaffeError(f"{where} must be true or false, not {v!r}")
    if kind in ("float", "double"):
        if isinstance(v, str) and v.lower().lstrip("-") in ("inf", "infinity", "nan"):
            return float(v)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise CaffeError(f"{where} must be a number, not {v!r}")
        return float(v)
    if not isinstance(v, int):
        raise CaffeError(f"{where} must be an integer, not {v!r}")
    if kind == "uint" and v < 0:
        raise CaffeError(f"{where} must not be negative")
    return v


def parse_text(text: str, source: str = "<prototxt>") -> dict:
    """Parses prototxt text into the NetParameter dict form of `netspec`.

    Args:
      text: the prototxt contents.
      source: the name used in error messages.

    Returns:
      The NetParameter dict (no blobs).

    Raises:
      CaffeError: on a syntax error or a value of the wrong type, naming the line or field.
    """
    parser = _Parser(_tokens(text, source), source)
    msg = _convert(parser.message(None), "NetParameter", source)
    if not msg.get("layers") and not msg.get("layer"):
        raise CaffeError(f"{source}: no 'layer' or 'layers' blocks; this is not a net prototxt")
    return msg


def read_file(path) -> dict:
    """Reads and parses a .prototxt file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CaffeError(f"{path}: cannot read the prototxt ({e})") from None
    return parse_text(text, str(path))
