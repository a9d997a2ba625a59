"""What a submitted notebook defines, without running it.

Every code cell is turned into plain Python (IPython's %magics and !shell lines become calls, which are
then dropped; the body of a %%time-like cell magic is kept) and parsed with `ast`. What is kept, in
notebook order: imports, `def` and `class` statements, and assignments of plain values (literals,
names, attributes, arithmetic, containers, lambdas: no calls). Nothing else of the notebook runs: no
data loading, no training, no check cells. A cell that does not parse is split at its top-level lines,
so a broken scratch line does not hide the function above it; what still does not parse is reported.
"""
from __future__ import annotations

import ast
import json
import marshal
import re
from dataclasses import dataclass, field

_MAGIC_LINE = re.compile(r"^\s*[%!]|\?\s*$", re.M)
_PYTHON_CELL_MAGICS = ("time", "timeit", "capture", "prun", "debug")
_CHECKS_MODULE = re.compile(r"^marslab\.checks\.(ex\d+)$")


class NotebookError(ValueError):
    """The file is not a readable Jupyter notebook; the message says what was found."""


@dataclass(frozen=True)
class Statement:
    """One kept top-level statement: where it is, what it binds, and its compiled code (marshal bytes)."""

    where: str  # "cell 7, line 3"
    kind: str  # "import", "def" or "assign"
    names: tuple[str, ...]
    code: bytes
    source_module: str | None = None  # for `from X import f`: X


@dataclass
class Program:
    """The kept statements of a notebook and what went wrong while extracting them."""

    statements: list[Statement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checks_imported: set[str] = field(default_factory=set)  # e.g. {"ex03"} for `from marslab.checks import ex03`

    def defined(self) -> set[str]:
        """Every name a kept statement binds."""
        return {name for s in self.statements for name in s.names}

    def last_binding(self, name: str) -> Statement | None:
        """The last kept statement that binds `name` (the one a top-to-bottom run would leave in place)."""
        return next((s for s in reversed(self.statements) if name in s.names), None)


def code_cells(data: bytes) -> list[tuple[int, str]]:
    """(cell number counted from 1 over all cells, source) of every code cell; NotebookError if not a notebook."""
    try:
        nb = json.loads(data)
    except UnicodeDecodeError:
        raise NotebookError("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise NotebookError(f"not a notebook: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(nb, dict):
        raise NotebookError(f"not a notebook: JSON {type(nb).__name__}, expected an object with 'cells'")
    if nb.get("nbformat") == 3 or "worksheets" in nb:
        cells = [c for sheet in nb.get("worksheets") or [] for c in sheet.get("cells", [])]
        key = "input"
    else:
        cells, key = nb.get("cells"), "source"
    if not isinstance(cells, list):
        raise NotebookError("not a notebook: JSON without a list of 'cells'")
    found = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get(key, "")
            found.append((number, "".join(source) if isinstance(source, list) else str(source)))
    return found


def _as_python(source: str) -> tuple[str, int]:
    """The cell as plain Python and the line offset of what is kept ("" for a non-Python cell magic)."""
    offset = 0
    if source.lstrip().startswith("%%"):
        head, _, body = source.lstrip().partition("\n")
        if head[2:].split(" ")[0] not in _PYTHON_CELL_MAGICS:
            return "", 0
        offset = source[: len(source) - len(source.lstrip())].count("\n") + 1
        source = body
    if _MAGIC_LINE.search(source):
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    return source, offset


def _plain_value(node: ast.AST) -> bool:
    """True if evaluating `node` calls nothing (lambda bodies are not evaluated, so they may call)."""
    if isinstance(node, ast.Lambda):
        return all(_plain_value(d) for d in node.args.defaults + [d for d in node.args.kw_defaults if d])
    if isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
        return False
    return all(_plain_value(child) for child in ast.iter_child_nodes(node))


def _target_names(target: ast.AST) -> list[str] | None:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names = [_target_names(t) for t in target.elts]
        return None if any(n is None for n in names) else [n for sub in names for n in sub]
    return None


def _classify(node: ast.stmt) -> tuple[str, list[str]] | None:
    """(kind, bound names) of a statement to keep, or None to drop it."""
    if isinstance(node, ast.Import):
        return "import", [a.asname or a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return "import", [a.asname or a.name for a in node.names if a.name != "*"]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def", [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _plain_value(node.value):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [_target_names(t) for t in targets]
        if all(n is not None for n in names):
            return "assign", [n for sub in names for n in sub]
    return None


def _checks_modules(node: ast.stmt) -> set[str]:
    """The checks modules ("ex03") that an import statement imports."""
    if isinstance(node, ast.Import):
        full = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        full = [f"{node.module}.{a.name}" for a in node.names]
    else:
        return set()
    return {m.group(1) for m in map(_CHECKS_MODULE.match, full) if m}


def _chunks(source: str) -> list[tuple[str, int]]:
    """The cell split before every line that starts at column 0 (decorators stay with what they decorate)."""
    lines = source.split("\n")
    starts = [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "#", ")", "]", "}")
              and (i == 0 or not lines[i - 1].startswith("@"))]
    starts = [0] + [s for s in starts if s > 0]
    return [("\n".join(lines[a:b]), a) for a, b in zip(starts, starts[1:] + [len(lines)])]


def _parse(source: str, where: str) -> tuple[list[tuple[ast.Module, int]], list[str]]:
    """Parsed pieces (module, line offset) of a cell; when the whole cell fails, each top-level chunk alone."""
    try:
        return [(ast.parse(source), 0)], []
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        line = getattr(e, "lineno", None)
        problem = f"{where} does not parse ({type(e).__name__}: {getattr(e, 'msg', e)}"
        problem += f", line {line})" if line else ")"
    pieces = []
    for chunk, offset in _chunks(source):
        try:
            pieces.append((ast.parse(chunk), offset))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return pieces, [problem + ("; its other lines were kept" if pieces else "; the cell was skipped")]


def extract(data: bytes) -> Program:
    """The Program of a notebook's bytes: its kept statements, compiled; NotebookError if it is not a notebook."""
    program = Program()
    for number, raw in code_cells(data):
        source, shift = _as_python(raw)
        pieces, problems = _parse(source, f"cell {number}")
        program.problems += problems
        for module, offset in pieces:
            for node in module.body:
                kept = _classify(node)
                if kept is None:
                    continue
                kind, names = kept
                line = node.lineno + offset + shift
                program.checks_imported |= _checks_modules(node)
                ast.increment_lineno(node, offset + shift)
                try:
                    code = compile(ast.Module([node], type_ignores=[]), f"<cell {number}>", "exec")
                except (SyntaxError, ValueError) as e:
                    program.problems.append(f"cell {number}, line {line}: {e.msg if hasattr(e, 'msg') else e}")
                    continue
                module_name = node.module if isinstance(node, ast.ImportFrom) else None
                program.statements.append(Statement(f"cell {number}, line {line}", kind, tuple(names),
                                                    marshal.dumps(code), module_name))
    return program
