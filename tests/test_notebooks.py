"""Every notebook (docs/notebooks/*.py, jupytext percent format) runs top to bottom.

The `executed_notebooks` fixture (conftest.py) converts each notebook with jupytext and executes
it with nbclient in a fresh `python3` kernel (the interpreter running pytest), from the
notebooks folder, once per session; the site build then renders those executed copies. A cell
that raises, or that writes an error or a warning to stderr, fails the notebook's test. (How
long they take is not asserted: on a shared machine a time limit fails for the wrong reason.)
"""

from __future__ import annotations

import re

import pytest

from .conftest import NOTEBOOK_SOURCES


@pytest.mark.parametrize(
    "source", NOTEBOOK_SOURCES or [None], ids=lambda p: p.stem if p else "no-notebooks"
)
def test_notebook_runs_without_errors(source, executed_notebooks):
    if source is None:
        pytest.skip("no notebooks in docs/notebooks yet")
    result = executed_notebooks[source.name]
    assert result.error is None, f"{source.name} failed:\n{result.error}"

    problems = []
    for index, cell in enumerate(result.notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                if re.search(r"Traceback|Error|Warning", output.get("text", "")):
                    problems.append(f"cell {index} wrote to stderr: {output['text'][:500]}")
    assert not problems, f"{source.name}:\n" + "\n".join(problems)
    assert any(cell.cell_type == "code" for cell in result.notebook.cells), (
        f"{source.name} has no code cells"
    )
