"""Build the API reference (HTML, one page per module) from the package's docstrings with pdoc.

    python scripts/build_api_docs.py [--out build/api]

Strict on purpose, so CI catches a broken reference: the build fails when pdoc warns (a module
that does not import, an annotation it cannot read) or when a docstring names
```ecom_assets.<something>``` in backticks and that object does not exist.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pdoc
import pdoc.doc
import pdoc.render

PACKAGE = "ecom_assets"
REFERENCE = re.compile(r"`+(" + PACKAGE + r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`+")


def walk(module: pdoc.doc.Module) -> Iterator[pdoc.doc.Module]:
    """The module and every submodule under it."""
    yield module
    for child in module.submodules:
        yield from walk(child)


def documented(module: pdoc.doc.Module) -> Iterator[pdoc.doc.Doc]:
    """The module and every object documented in it (members of classes included)."""
    yield module
    stack: list[pdoc.doc.Doc] = list(module.own_members)
    while stack:
        doc = stack.pop()
        yield doc
        if isinstance(doc, pdoc.doc.Class):
            stack.extend(doc.own_members)


def resolves(name: str, modules: dict[str, pdoc.doc.Module]) -> bool:
    """True when ``name`` is a module of the package or an object reachable from one."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        module = modules.get(".".join(parts[:split]))
        if module is None:
            continue
        qualname = ".".join(parts[split:])
        return not qualname or module.get(qualname) is not None
    return False


def reexported(modules: dict[str, pdoc.doc.Module]) -> list[str]:
    """Names the package re-exports from other libraries (their annotations are those libraries' business)."""
    return [doc.fullname for module in modules.values() for doc in module.own_members
            if not doc.taken_from[0].startswith(PACKAGE)]


def broken_references(modules: dict[str, pdoc.doc.Module]) -> list[str]:
    """``where: name`` for every backticked package name in a docstring that does not resolve."""
    broken = []
    for module in modules.values():
        for doc in documented(module):
            if doc.taken_from[0] != module.modulename and doc is not module:
                continue  # re-exported: checked where it is defined
            for name in REFERENCE.findall(doc.docstring):
                if not resolves(name, modules):
                    broken.append(f"{doc.fullname}: `{name}`")
    return sorted(set(broken))


ENVIRONMENT_NOTICE = "environment variable. To prevent accidental leakage"


def build(out: Path) -> list[str]:
    """Render the reference into ``out``; returns the problems found (empty when the build is clean)."""
    pdoc.render.configure(docformat="markdown", footer_text="ecom-assets API reference", show_source=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = pdoc.doc.Module.from_name(PACKAGE)
        modules = {module.modulename: module for module in walk(root)}
        pdoc.pdoc(PACKAGE, output_directory=out)
    foreign = re.compile("|".join(re.escape(name) + r"\b" for name in reexported(modules)) or "(?!)")
    # pdoc hides a default value equal to an exported variable (127.0.0.1 when SPARK_LOCAL_IP is set) and
    # says so: a property of the shell the build runs in, not of the docstrings.
    problems = [f"pdoc: {warning.message}" for warning in caught
                if "pdoc" in Path(warning.filename).parts and not foreign.search(str(warning.message))
                and ENVIRONMENT_NOTICE not in str(warning.message)]
    return problems + [f"broken reference in {entry}" for entry in broken_references(modules)]


def main(argv: list[str] | None = None) -> int:
    """Command line: build, list problems, exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/api"))
    args = parser.parse_args(argv)
    problems = build(args.out)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"API reference: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"API reference written to {args.out}/index.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
