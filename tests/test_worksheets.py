"""The exercises in the guide: every chapter ends with them, every notebook is their worksheet.

A chapter's Exercises section (after the Recap) has two to four exercises, each with the command
that checks it, a hint and a folded solution; code solutions come from the package. A notebook
defines each object it checks only as a stub that raises NotImplementedError; the build runs it
as a reader would, so the page shows the stub's "not written yet" report, never a pass.
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from minigpt.exercises import EXERCISES
from minigpt.exercises.core import run

from .conftest import DOCS_DIR, NOTEBOOK_SOURCES

CHAPTERS = sorted(DOCS_DIR.glob("[0-1][0-9]-*.md"))[:10]
CHECK_CALL = re.compile(r'^check\("(?P<id>\w+)", (?P<name>\w+)\)$', re.M)


def _exercises_section(path):
    text = path.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[-2:] == ["Recap", "Exercises"], f"{path.name} does not end Recap, Exercises"
    return text[text.index("\n## Exercises\n") :]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_exercises(path):
    section = _exercises_section(path)
    parts = re.split(r"^### ", section, flags=re.M)[1:]
    assert 2 <= len(parts) <= 4, f"{path.name}: {len(parts)} exercises"
    chapter = int(path.name[:2])
    for part in parts:
        title = part.splitlines()[0]
        assert re.match(r"\d\. (Predict|Implement|Change and observe)", title), title
        assert '??? tip "Hint"' in part and '??? success "Solution"' in part, title
        assert part.index('??? tip "Hint"') < part.index('??? success "Solution"'), title
        if "Predict" in title:  # the answer is computed by code, in the folded solution
            assert "```{.python .run}" in part[part.index('??? success "Solution"') :], title
        else:
            assert re.search(r"^```(console|python)$", part, re.M), f"{title}: no command to run"
        if title.split(". ", 1)[1].startswith("Implement"):
            ids = re.findall(r"^\$ minigpt check (\w+) \w+\.py$", part, re.M)
            assert len(ids) == 1 and EXERCISES[ids[0]].chapter == chapter, title
            solution = part[part.index('??? success "Solution"') :]
            assert re.search(r'--8<-- "minigpt/\w+\.py:\w+"', solution), f"{title}: pasted?"
    checked = set(re.findall(r"^\$ minigpt check (\w+) ", section, re.M))
    assert checked == {e.id for e in EXERCISES.values() if e.chapter == chapter}


def _cells(source):
    import jupytext

    return [c for c in jupytext.read(source).cells if c.cell_type == "code"]


def _defined_names(code):
    tree = ast.parse(code)
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _stubs(source):
    """(exercise id, name, code of its stub cell, code of the notebook's import cell)."""
    cells = _cells(source)
    found = []
    for index, cell in enumerate(cells):
        for call in CHECK_CALL.finditer(cell.source):
            name = call["name"]
            definitions = [c for c in cells[:index] if name in _defined_names(c.source)]
            found.append((call["id"], name, definitions, cells[0].source))
    return found


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_every_notebook_is_a_worksheet_of_its_chapters_exercises(source):
    pytest.importorskip("jupytext")
    chapter = int(source.name[:2])
    checked = set()
    for exercise_id, name, definitions, _ in _stubs(source):
        if name != EXERCISES[exercise_id].name:
            continue  # a deliberately wrong version, checked to show its report (notebook 8)
        assert len(definitions) == 1, f"{source.name}: {name} is defined or imported twice"
        assert "raise NotImplementedError" in definitions[0].source, f"{name} is not a stub"
        checked.add(exercise_id)
    assert checked == {e.id for e in EXERCISES.values() if e.chapter == chapter}


def _stub_object(name, stub_cell, import_cell):
    namespace: dict = {}
    exec(compile(import_cell, "imports", "exec"), namespace)  # noqa: S102
    exec(compile(stub_cell, "stub", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _worksheet_stubs():
    try:
        import jupytext  # noqa: F401
    except ImportError:
        return []
    return [
        (source.stem, exercise_id, name, definitions[0].source, imports)
        for source in NOTEBOOK_SOURCES
        for exercise_id, name, definitions, imports in _stubs(source)
        if name == EXERCISES[exercise_id].name and definitions
    ]


WORKSHEET_STUBS = _worksheet_stubs()


@pytest.mark.parametrize("notebook, exercise_id, name, stub, imports", WORKSHEET_STUBS)
def test_a_worksheet_stub_is_reported_as_not_written(notebook, exercise_id, name, stub, imports):
    report = run(EXERCISES[exercise_id], _stub_object(name, stub, imports))
    assert report.stub and not report.passed, report.text()


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_the_executed_worksheet_shows_what_the_reader_sees(source, executed_notebooks):
    result = executed_notebooks[source.name]
    assert result.error is None, result.error
    for cell in result.notebook.cells:
        call = CHECK_CALL.search(cell.source) if cell.cell_type == "code" else None
        if call is None or call["name"] != EXERCISES[call["id"]].name:
            continue
        text = " ".join("".join(o.get("text", "") for o in cell.get("outputs", [])).split())
        assert f"{call['name']} is still the stub" in text, text
        assert "passed" not in text, text
    for cell in result.notebook.cells:  # a predict exercise's answer stays folded
        if cell.cell_type == "code" and "folded(" in cell.source:
            shown = [o for o in cell.get("outputs", []) if "text/html" in o.get("data", {})]
            assert shown and "<details>" in shown[0]["data"]["text/html"], cell.source
            assert not any(o.get("text") for o in cell.get("outputs", [])), cell.source


def test_the_site_offers_the_worksheets_with_their_stubs(built_site):
    for source in NOTEBOOK_SOURCES:
        folder = built_site.dir / "notebooks"
        notebook = json.loads((folder / f"{source.stem}.ipynb").read_text(encoding="utf-8"))
        code = "\n".join("".join(c["source"]) for c in notebook["cells"])
        assert "raise NotImplementedError" in code, source.name
        assert not any(c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
        page = (folder / source.stem / "index.html").read_text(encoding="utf-8")
        assert "is still the stub" in page, source.name
        assert not re.search(r"All \d+ checks passed", page), source.name
