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
    |(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?[fF]?(?![\w.]))
    |(?P<ident>-?[A-Za-z_][\w.]*)
    |(?P<punct>[{}\[\]:;,<>])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
# Integers beyond uint64 / int64 fit no Caffe field (protobuf's text parser refuses them too);
# the length check comes first, so that a 5000-digit literal is never converted.
_INT_RANGE = (-(1 << 63), 1 << 64)
# protobuf's text parser stops at 100 nested blocks; so do we (deeper input would exhaust
# Python's recursion limit, and no net nests more than four).
_MAX_DEPTH = 100


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
            out.append(("number", _number(s, f"{source}:{line}"), line))
        elif kind in ("ident", "punct"):
            out.append((kind, s, line))
        line += s.count("\n")
        pos = m.end()
    return out


def _number(s: str, where: str) -> int | float:
    """A number token's value; integers out of the 64-bit range are refused."""
    if re.fullmatch(r"[-+]?\d+", s) is None:
        return float(s)  # a float literal: too large a value becomes inf, never an error
    digits = s.lstrip("+-").lstrip("0") or "0"
    value = int(digits) * (-1 if s.startswith("-") else 1) if len(digits) <= 20 else None
    if value is None or not _INT_RANGE[0] <= value < _INT_RANGE[1]:
        shown = s if len(s) <= 24 else f"{s[:12]}...{s[-6:]} ({len(s)} characters)"
        raise CaffeError(f"{where}: the integer {shown} is out of range in the prototxt")
    return value


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

    def message(self, closing: str | None, depth: int = 0) -> dict:
        if depth > _MAX_DEPTH:
            raise self.fail(f"blocks nested more than {_MAX_DEPTH} deep")
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
                values = [self.message("}" if value == "{" else ">", depth + 1)]
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


def typed_message(msg: dict, msg_type: str, where: str) -> dict:
    """Types and checks the values of a dict-form message with the schema of the binary reader.

    Used for the parsed text and for the converted file's JSON header, whose values must have
    the types the builder reads. Fields the schema does not know are kept as they are.

    Raises:
      CaffeError: a value of the wrong type, naming the field as `where.field.subfield`.
    """
    if not isinstance(msg, dict):
        raise CaffeError(f"{where} must be a {{ ... }} block")
    fields = {name: kind for name, kind in SCHEMA[msg_type].values()}
    out = {}
    for name, values in msg.items():
        kind = fields.get(name)
        if kind is None:
            out[name] = values
            continue
        if not isinstance(values, list):
            raise CaffeError(f"{where}.{name} must be a list of values")
        out[name] = [_value(v, kind, f"{where}.{name}") for v in values]
    return out


def _shown(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def _value(v, kind: str, where: str):
    if kind in SCHEMA:
        if not isinstance(v, dict):
            raise CaffeError(f"{where} must be a {{ ... }} block")
        return typed_message(v, kind, where)
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
        raise CaffeError(f"{where}: {_shown(v)} is not one of {', '.join(names)}")
    if kind == "bool":
        if v in ("true", "True", "t", 1):
            return True
        if v in ("false", "False", "f", 0):
            return False
        raise CaffeError(f"{where} must be true or false, not {_shown(v)}")
    number = kind in ("float", "double")
    if number and isinstance(v, str) and v.lower().lstrip("-") in ("inf", "infinity", "nan"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, (int, float) if number else int):
        wanted = "a number" if number else "an integer"
        raise CaffeError(f"{where} must be {wanted}, not {_shown(v)}")
    if isinstance(v, int) and not _INT_RANGE[0] <= v < _INT_RANGE[1]:
        # The text's integers are checked as tokens; a converted file's JSON may hold any.
        raise CaffeError(f"{where}: {_shown(v)} is out of range")
    if number:
        return float(v)
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
    msg = typed_message(parser.message(None), "NetParameter", source)
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
