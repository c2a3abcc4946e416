"""Griffe extension of the API reference (listed under mkdocstrings' ``extensions``).

Two adjustments to what griffe reads from the package, so the reference reads well
without changing any docstring:

- Sphinx roles (``:class:`~tf_tsexplain.Explainer```, ``:func:`load_model```, ...),
  which many docstrings use, become links to the documented object when it is in the
  reference and code otherwise (mkdocs-autorefs' *optional* references: never a
  broken link). Relative names are looked up from the docstring's object outwards.
- Instance attributes without a docstring (``self.x = ...`` in ``__init__``) are left
  out: their values are implementation, and the constructor's Args already say what
  they hold.
"""

from __future__ import annotations

import html
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`(~?)([^`<>]+)`")
PACKAGE = "tf_tsexplain"


def _walk(obj):
    yield obj
    for member in list(obj.members.values()):
        if not member.is_alias:
            yield from _walk(member)


def _identifier(target: str, obj) -> str:
    """The dotted path ``target`` names, seen from ``obj`` (itself, then its parents)."""
    target = target.strip().removesuffix("()")
    if target.startswith(PACKAGE):
        return target
    first = target.split(".")[0]
    scope = obj
    while scope is not None:
        if first in scope.members:
            return f"{scope.path}.{target}"
        scope = scope.parent
    return target


def _rewrite(text: str, obj) -> str:
    def link(match: re.Match) -> str:
        short, target = match.group(1) == "~", match.group(2).strip()
        identifier = _identifier(target, obj)
        title = target.split(".")[-1] if short else target
        return (
            f'<autoref identifier="{html.escape(identifier)}" optional>'
            f"<code>{html.escape(title)}</code></autoref>"
        )

    return ROLE.sub(link, text)


class ReferenceDocstrings(griffe.Extension):
    """Sphinx roles as optional cross-references; undocumented instance attributes out."""

    def on_package(self, *, pkg, **kwargs) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = _rewrite(obj.docstring.value, obj)
            if obj.is_class:
                for name, member in list(obj.members.items()):
                    if (
                        not member.is_alias
                        and member.is_attribute
                        and "instance-attribute" in member.labels
                        and "class-attribute" not in member.labels
                        and member.docstring is None
                    ):
                        obj.del_member(name)
