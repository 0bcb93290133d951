"""Names derived from the answers, computed exactly as the Jinja expressions in the template do."""

from __future__ import annotations


def split_methods(methods: str) -> list[str]:
    """The method names of a comma-separated answer, blanks around commas ignored."""
    return [part.strip() for part in methods.split(",")]


def pascal_case(snake: str) -> str:
    """``summarize_text`` -> ``SummarizeText``; matches ``replace('_', ' ') | title | replace(' ', '')``."""
    return "".join(word[:1].upper() + word[1:].lower() for word in snake.split("_") if word)


def message_names(method: str) -> tuple[str, str]:
    """The args and result message names of a method."""
    stem = pascal_case(method)
    return f"{stem}Args", f"{stem}Result"
