"""Names derived from the answers, computed exactly as the Jinja expressions in the template do."""

from __future__ import annotations

import re


def split_methods(methods: str) -> list[str]:
    """The method names of a comma-separated answer, blanks around commas ignored."""
    return [part.strip() for part in methods.split(",")]


# The plugin contract's name for the method a job without ``using`` gets.
DEFAULT_METHOD_NAME = "run"


def default_method(methods: list[str]) -> str | None:
    """The method a job without ``using`` gets: ``run``, else the only method, else none.

    The generated framework applies the same rule at run time (``contract.default_method`` in
    Python, ``MethodTable::resolve`` in Rust); the template uses it to write matching tests.
    """
    if DEFAULT_METHOD_NAME in methods:
        return DEFAULT_METHOD_NAME
    return methods[0] if len(methods) == 1 else None


def sample_method(methods: list[str]) -> str:
    """The method that gets the sample work: the default method, else the first."""
    return default_method(methods) or methods[0]


def pascal_case(snake: str) -> str:
    """``summarize_text`` -> ``SummarizeText``; matches ``replace('_', ' ') | title | replace(' ', '')``."""
    return "".join(word[:1].upper() + word[1:].lower() for word in snake.split("_") if word)


def message_names(method: str) -> tuple[str, str]:
    """The args and result message names of a method."""
    stem = pascal_case(method)
    return f"{stem}Args", f"{stem}Result"


def feed_message_name(method: str) -> str:
    """The message a feed method's client stream carries (``count_words`` -> ``CountWordsFeed``)."""
    return f"{pascal_case(method)}Feed"


def feed_method_names(feed_methods: str) -> list[str]:
    """The feed methods of the ``feed_methods`` answer; an empty answer names none."""
    return [name for name in split_methods(feed_methods) if name]


def rust_type_name(name: str) -> str:
    """The Rust type prost-build makes of a proto message name (``HTTPArgs`` -> ``HttpArgs``).

    prost-build converts message names with heck's UpperCamelCase, followed here step by step:
    words split at non-alphanumerics, after a lowercase letter (digits between them kept with
    it) that an uppercase one follows, and before the last capital of a run that a lowercase
    letter follows; each word then gets one capital and lowercase for the rest.
    """
    words: list[str] = []
    for part in re.split(r"[^0-9A-Za-z]+", name):
        start, case = 0, ""  # case: "lower"/"upper" of the word's last cased letter so far
        for index, char in enumerate(part[:-1]):
            following = part[index + 1]
            here = "lower" if char.islower() else "upper" if char.isupper() else case
            if here == "lower" and following.isupper():
                words.append(part[start : index + 1])
                start, case = index + 1, ""
            elif case == "upper" and char.isupper() and following.islower():
                words.append(part[start:index])
                start, case = index, ""
            else:
                case = here
        if part:
            words.append(part[start:])
    return "".join(word[:1].upper() + word[1:].lower() for word in words if word)
