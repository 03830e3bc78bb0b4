"""The source files a definition depends on, and one hash over them.

A record names the workload and the submission it measured by hash, so a leaderboard can tell
when two records were produced by different code. A hash covers what it names only if it covers
every project file the definition runs: a workload's data, model and loss are often spread over
its module and shared helpers (`workloads/_image_classification.py`, `workloads/_pipeline.py`),
and a submission's update rule over `bench/optim/` and `bench/schedules.py`.

`project_files(roots)` follows the import statements of the root modules (read with `ast`,
nothing is imported) transitively, keeping the modules of the project's own packages
(`PROJECT_PACKAGES`); third-party code is identified by the package versions a record keeps.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path

PROJECT_PACKAGES = ("bench", "workloads")


def _module_file(name: str) -> Path | None:
    """The source file of module `name` of the project, or None (not ours, or not found)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imported_names(path: Path, package: str) -> set[str]:
    """Module names imported by the file at `path` (whose own package is `package`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing file's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # submodules, if any
    return {name for name in names if name}


def file_imports(path: Path) -> set[str]:
    """Absolute module names a top-level file (not in a package) imports."""
    return _imported_names(Path(path), "")


def project_files(roots: Iterable[str]) -> dict[str, Path]:
    """Module name -> file, for the root modules and every project module they import,
    transitively. A package's `__init__.py` counts when it is imported by name (`from bench.optim
    import x`), not merely as the parent of a submodule (`bench/__init__.py` is the harness's)."""
    seen: dict[str, Path] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        pending.extend(_imported_names(path, package))
    return dict(sorted(seen.items()))


def files_sha256(files: Mapping[str, Path], prefix: bytes = b"") -> str:
    """One hash over `prefix` and the files' labels and contents, in the labels' order.

    Labels (module names, paths relative to a folder) rather than absolute paths, so that one
    definition hashes the same on every machine.
    """
    digest = hashlib.sha256(prefix)
    for label in sorted(files):
        content = Path(files[label]).read_bytes()
        digest.update(f"\0{label}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def folder_files(folder: Path) -> dict[str, Path]:
    """Relative path -> file, for a folder and its subfolders, without caches and hidden files."""
    folder = Path(folder)
    found = {}
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and "__pycache__" not in parts and not any(
                part.startswith(".") for part in parts):
            found["/".join(parts)] = path
    return found
