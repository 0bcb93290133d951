"""Free-text answers written into generated files as data, never as syntax.

Each function turns a one-line answer (the validation rules have already refused line breaks and
control characters) into text that reads back as exactly that answer in one kind of file.
"""

from __future__ import annotations

import re

# Characters CommonMark (and GitHub's tables and strikethrough) can read as markup anywhere in a
# line; a backslash before ASCII punctuation always stands for the character itself.
MARKDOWN_INLINE = frozenset("\\`*_[]<>&~#|!")
# At the start of a line these open a list, a block quote, a heading or a thematic break.
MARKDOWN_LINE_START = frozenset("-+=")
ORDERED_LIST_START = re.compile(r"^(\d{1,9})([.)])")


def python_text(value: str) -> str:
    """The inside of a double-quoted (or triple-double-quoted) Python string literal.

    Everything outside printable ASCII is written as an escape, so the source stays ASCII:
    linters' confusable-character rules (ruff RUF001-RUF003) pass whatever the answer is,
    and the string's value is still the answer itself. ``"`` becomes ``\\x22`` rather than
    ``\\"`` so that formatters see no quote to flip the literal's quote style over.
    """
    pieces = []
    for char in value:
        code = ord(char)
        if char == "\\":
            pieces.append("\\\\")
        elif char == '"':
            pieces.append("\\x22")
        elif 0x20 <= code < 0x7F:
            pieces.append(char)
        elif code < 0x100:
            pieces.append(f"\\x{code:02x}")
        elif code < 0x10000:
            pieces.append(f"\\u{code:04x}")
        else:
            pieces.append(f"\\U{code:08x}")
    return "".join(pieces)


def rust_text(value: str) -> str:
    """The inside of a double-quoted Rust string literal; the source stays ASCII."""
    pieces = []
    for char in value:
        if char in '\\"':
            pieces.append(f"\\{char}")
        elif 0x20 <= ord(char) < 0x7F:
            pieces.append(char)
        else:
            pieces.append(f"\\u{{{ord(char):x}}}")
    return "".join(pieces)


def markdown_text(value: str) -> str:
    """One line of Markdown that renders as ``value`` itself, not as markup."""
    escaped = "".join(f"\\{char}" if char in MARKDOWN_INLINE else char for char in value)
    ordered = ORDERED_LIST_START.match(escaped)
    if ordered:
        return f"{ordered.group(1)}\\{ordered.group(2)}{escaped[ordered.end() :]}"
    if escaped[:1] in MARKDOWN_LINE_START:
        return f"\\{escaped}"
    return escaped
