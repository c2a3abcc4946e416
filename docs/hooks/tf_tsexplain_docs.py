"""MkDocs hooks of the tf_tsexplain site (listed under ``hooks:`` in mkdocs.yml).

Two jobs, so that pages stay plain Markdown that also reads well on a code host:

- API reference pages from one nav line each: a nav entry ``reference/<module>.md``
  with no such file in docs/ becomes a generated page holding ``::: <module>``
  (mkdocstrings renders the module's docstring and public names; its heading is the
  page's title). A real file of that name wins, for modules that need options.
- Figures kept in the repository's ``examples/figures/`` are served with the site under
  ``examples/figures/``, and a page's relative link to them from the repository's
  layout (``../../examples/figures/x.png`` from ``docs/guide/``) is pointed there, so
  the same Markdown shows the figure both in the repository and in the site.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

REFERENCE_DIR = "reference/"
FIGURES = "examples/figures"
# a Markdown link or image target, or an HTML src/href attribute
_LINK = re.compile(r"(\]\(|\b(?:src|href)=\")([^)\"\s]+)")


def _nav_paths(nav) -> list[str]:
    """Every page path named in the nav (nested lists of dicts and strings)."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_paths(value)]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_paths(item)]
    return []


def reference_modules(nav) -> list[str]:
    """The dotted module names of the nav's ``reference/<module>.md`` entries."""
    modules = []
    for path in _nav_paths(nav):
        name = path[len(REFERENCE_DIR) : -len(".md")]
        if path.startswith(REFERENCE_DIR) and name.startswith("tf_tsexplain"):
            modules.append(name)
    return modules


def on_files(files: Files, config) -> Files:
    for module in reference_modules(config.nav):
        src_uri = f"{REFERENCE_DIR}{module}.md"
        if files.get_file_from_path(src_uri) is None:
            content = f"::: {module}\n    options:\n      heading_level: 1\n"
            files.append(File.generated(config, src_uri, content=content))
    root = Path(config.config_file_path).parent
    for figure in sorted((root / FIGURES).glob("*")):
        if figure.suffix.lower() in {".png", ".svg", ".gif", ".jpg", ".jpeg", ".html"}:
            files.append(
                File(
                    f"{FIGURES}/{figure.name}",
                    src_dir=str(root),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )
    return files


def _docs_target(target: str, page_dir: str, docs_dir: str) -> str:
    """``target`` rewritten to the served copy when it points into examples/figures/."""
    if "://" in target or target.startswith(("#", "/", "mailto:")):
        return target
    in_repo = posixpath.normpath(posixpath.join(docs_dir, page_dir, target))
    if not in_repo.startswith(FIGURES + "/"):
        return target
    return posixpath.relpath(in_repo, page_dir or ".")


def on_page_markdown(markdown: str, page, config, files) -> str:
    root = Path(config.config_file_path).parent
    docs_dir = Path(config.docs_dir).relative_to(root).as_posix()
    page_dir = posixpath.dirname(page.file.src_uri)
    return _LINK.sub(lambda m: m.group(1) + _docs_target(m.group(2), page_dir, docs_dir), markdown)
