"""The subset of Go's ``text/template`` (with sprig functions) that step's SSH templates use.

smallstep renders the ``templates`` of ca.json with Go templates. We render the same files
natively: actions ``{{ pipeline }}`` with ``{{-``/``-}}`` trimming, comments, field chains on
``.`` and ``$``, pipelines with ``|``, parentheses, string/number/bool literals, and the
``if``/``else if``/``else``, ``range`` and ``with`` blocks. Variables (``$x :=``), ``define``,
``template`` and ``block`` are not supported: a template using them is refused when ca.json is
loaded, with the template name and the reason.

Values: dicts are looked up by key (a missing key is empty), objects by attribute (methods are
called without arguments). Go strings are bytes, so ``bytes`` flow through the functions and
are written as they are; ``str`` is written as UTF-8.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; the message names the template."""


class TemplateFail(Exception):
    """``{{ fail "message" }}``: the template refuses the request (sprig's ``fail``)."""


def _fail(message: Any) -> Any:
    raise TemplateFail(_text(message))


def _to_json(value: Any) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, bytes):
            return v.decode("utf-8", "surrogateescape")
        to_json = getattr(v, "to_json", None)
        if callable(to_json):
            return to_json()
        raise TypeError(f"toJson: cannot encode a {type(v).__name__}")

    return json.dumps(value, default=default, separators=(",", ":"))


def _type_is(name: Any, value: Any) -> bool:
    """Go's ``typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey``: values that stand for Go types
    carry their Go type name in ``go_type``."""
    return getattr(value, "go_type", None) == _text(name)


# ------------------------------------------------------------------------------------ functions


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return _printed(value).decode("utf-8", "surrogateescape")


def _truth(value: Any) -> bool:
    return bool(value) if value is not None else False


def _or(*args: Any) -> Any:
    for a in args:
        if _truth(a):
            return a
    return args[-1]


def _and(*args: Any) -> Any:
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _b64enc(value: Any) -> str:
    data = value if isinstance(value, bytes) else _text(value).encode()
    return base64.b64encode(data).decode()


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, *others: any(a == o for o in others),
    "ne": lambda a, b: a != b,
    "and": _and,
    "or": _or,
    "not": lambda a: not _truth(a),
    "toString": lambda v: v if isinstance(v, bytes) else _text(v),
    "b64enc": _b64enc,
    "b64dec": lambda v: base64.b64decode(_text(v)),
    "replace": lambda old, new, s: _text(s).replace(_text(old), _text(new)),
    "trimPrefix": lambda prefix, s: _text(s).removeprefix(_text(prefix)),
    "trimSuffix": lambda suffix, s: _text(s).removesuffix(_text(suffix)),
    "trim": lambda s: _text(s).strip(),
    "lower": lambda s: _text(s).lower(),
    "upper": lambda s: _text(s).upper(),
    "contains": lambda sub, s: _text(sub) in _text(s),
    "hasPrefix": lambda prefix, s: _text(s).startswith(_text(prefix)),
    "hasSuffix": lambda suffix, s: _text(s).endswith(_text(suffix)),
    "quote": lambda *args: " ".join(json.dumps(_text(a)) for a in args),
    "default": lambda fallback, value=None: value if _truth(value) else fallback,
    "join": lambda sep, items: _text(sep).join(_text(i) for i in (items or [])),
    "toJson": _to_json,
    "typeIs": _type_is,
    "fail": _fail,
    "hasKey": lambda d, key: isinstance(d, dict) and _text(key) in d,
    "empty": lambda v: not _truth(v),
}


# ------------------------------------------------------------------------------------ lexing

_ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<pipe>\|)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.|\$[A-Za-z0-9_]*)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<assign>:?=)
    | (?P<other>\S)
    )""",
    re.X,
)
_KEYWORDS = {"if", "else", "end", "range", "with"}
_UNSUPPORTED = {"define", "template", "block", "break", "continue"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str


def _tokens(source: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None or m.lastgroup is None:
            break
        kind = m.lastgroup
        if kind == "other":
            raise ValueError(f"unexpected {m.group(kind)!r} in action")
        out.append(_Token(kind, m.group(kind)))
        pos = m.end()
    return out


# ------------------------------------------------------------------------------------ tree

Arg = tuple[str, Any]  # ("field", (root, names)) | ("lit", value) | ("ident", name) | ("pipe", Pipeline)
Command = list[Arg]
Pipeline = list[Command]


@dataclass
class _Branch:
    kind: str  # if | range | with
    pipelines: list[Pipeline]  # one per "if"/"else if" arm
    bodies: list[list[Any]]  # one per arm, plus the else body when present


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self, closing: str | None = None) -> Pipeline:
        commands: Pipeline = []
        command: Command = []
        while (tok := self.peek()) is not None and tok.kind != closing:
            self.pos += 1
            if tok.kind == "pipe":
                if not command:
                    raise ValueError("missing command before '|'")
                commands.append(command)
                command = []
            elif tok.kind == "lparen":
                command.append(("pipe", self.pipeline("rparen")))
                if self.peek() is None:
                    raise ValueError("unclosed '('")
                self.pos += 1
            elif tok.kind == "rparen":
                raise ValueError("unexpected ')'")
            else:
                command.append(_operand(tok))
        if not command:
            raise ValueError("missing value for command")
        commands.append(command)
        return commands


def _operand(tok: _Token) -> Arg:
    if tok.kind == "field":
        text = tok.text
        root = "$" if text.startswith("$") else "."
        if root == "$" and not (text == "$" or text.startswith("$.")):
            raise ValueError(f"variables are not supported ({text})")
        names = [n for n in text.lstrip("$").split(".") if n]
        return ("field", (root, names))
    if tok.kind == "str":
        return ("lit", json.loads(tok.text))
    if tok.kind == "raw":
        return ("lit", tok.text[1:-1])
    if tok.kind == "num":
        return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
    if tok.text in ("true", "false"):
        return ("lit", tok.text == "true")
    if tok.text == "nil":
        return ("lit", None)
    if tok.text in FUNCTIONS:
        return ("ident", tok.text)
    raise ValueError(f'function "{tok.text}" not defined')


def _parse(source: str) -> list[Any]:
    """Nodes: str (text), Pipeline (output), _Branch (block)."""
    root: list[Any] = []
    stack: list[tuple[_Branch, list[Any]]] = []
    body = root
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(source):
        text = source[pos : m.start()]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        if text:
            body.append(text)
        pos = m.end()
        trim_next = bool(m.group(3))
        inner = m.group(2).strip()
        if inner.startswith("/*"):
            if not inner.endswith("*/"):
                raise ValueError("unclosed comment")
            continue
        tokens = _tokens(inner)
        if not tokens:
            raise ValueError("missing value for command")
        head = tokens[0].text if tokens[0].kind == "ident" else ""
        if head in _UNSUPPORTED or any(t.kind == "assign" for t in tokens):
            raise ValueError(f"{{{{{inner}}}}} is not supported")
        parser = _Parser(tokens[1:] if head in _KEYWORDS else tokens)
        if head in ("if", "range", "with"):
            branch = _Branch(head, [parser.pipeline()], [[]])
            body.append(branch)
            stack.append((branch, body))
            body = branch.bodies[-1]
        elif head == "else":
            if not stack:
                raise ValueError("unexpected {{else}}")
            branch = stack[-1][0]
            if len(branch.bodies) > len(branch.pipelines):
                raise ValueError("{{else}} after {{else}}")
            rest = tokens[1:]
            if rest and rest[0].text == "if":
                if branch.kind != "if":
                    raise ValueError("{{else if}} outside of {{if}}")
                branch.pipelines.append(_Parser(rest[1:]).pipeline())
            elif rest:
                raise ValueError("unexpected arguments after {{else}}")
            branch.bodies.append([])
            body = branch.bodies[-1]
        elif head == "end":
            if not stack or len(tokens) > 1:
                raise ValueError("unexpected {{end}}")
            _, body = stack.pop()
        else:
            body.append(parser.pipeline())
    if stack:
        raise ValueError(f"unexpected EOF: {{{{{stack[-1][0].kind}}}}} is not closed")
    tail = source[pos:]
    if trim_next:
        tail = tail.lstrip(" \t\r\n")
    if "{{" in tail:
        raise ValueError("unclosed action")
    if tail:
        body.append(tail)
    return root


# ------------------------------------------------------------------------------------ execution


def _printed(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, list | tuple):
        return b"[" + b" ".join(_printed(v) for v in value) + b"]"
    return str(value).encode()


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        found = value.get(name)
    elif name.startswith("_") or not hasattr(value, name):
        raise ValueError(f"can't evaluate field {name} in type {type(value).__name__}")
    else:
        found = getattr(value, name)
    return found() if callable(found) else found


class Template:
    """A parsed template; ``render(data)`` returns the output bytes."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        try:
            self._nodes = _parse(source)
        except ValueError as exc:
            raise TemplateError(f"template {name}: {exc}") from None

    def render(self, data: Any) -> bytes:
        out: list[bytes] = []
        try:
            self._run(self._nodes, data, data, out)
        except (ValueError, TypeError) as exc:
            raise TemplateError(f"error executing template {self.name}: {exc}") from None
        return b"".join(out)

    def _run(self, nodes: Sequence[Any], dot: Any, root: Any, out: list[bytes]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node.encode())
            elif isinstance(node, _Branch):
                self._branch(node, dot, root, out)
            else:
                out.append(_printed(self._pipeline(node, dot, root)))

    def _branch(self, node: _Branch, dot: Any, root: Any, out: list[bytes]) -> None:
        has_else = len(node.bodies) > len(node.pipelines)
        if node.kind == "range":
            items = self._pipeline(node.pipelines[0], dot, root)
            if isinstance(items, dict):
                items = [items[k] for k in sorted(items)]
            if items:
                for item in items:
                    self._run(node.bodies[0], item, root, out)
            elif has_else:
                self._run(node.bodies[1], dot, root, out)
            return
        for pipeline, body in zip(node.pipelines, node.bodies, strict=False):
            value = self._pipeline(pipeline, dot, root)
            if _truth(value):
                self._run(body, value if node.kind == "with" else dot, root, out)
                return
        if has_else:
            self._run(node.bodies[-1], dot, root, out)

    def _pipeline(self, pipeline: Pipeline, dot: Any, root: Any) -> Any:
        value: Any = None
        for i, command in enumerate(pipeline):
            value = self._command(command, dot, root, value, piped=i > 0)
        return value

    def _command(self, command: Command, dot: Any, root: Any, piped_value: Any, *, piped: bool) -> Any:
        kind, first = command[0]
        if kind == "ident":
            args = [self._arg(a, dot, root) for a in command[1:]]
            if piped:
                args.append(piped_value)
            return FUNCTIONS[first](*args)
        if len(command) > 1 or piped:
            raise ValueError("can't give argument to non-function")
        return self._arg(command[0], dot, root)

    def _arg(self, arg: Arg, dot: Any, root: Any) -> Any:
        kind, value = arg
        if kind == "lit":
            return value
        if kind == "pipe":
            return self._pipeline(value, dot, root)
        if kind == "ident":
            return FUNCTIONS[value]()
        start, names = value
        current = root if start == "$" else dot
        for name in names:
            current = _field(current, name)
        return current
