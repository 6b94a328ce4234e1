"""The Python snippets of docs/ecosystem/README.md run as written (torch data sources, the estimators)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "docs" / "ecosystem" / "README.md"


@pytest.mark.slow
def test_the_ecosystem_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:  # the second block uses the first one's model and data, as a reader would
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["D"].shape == (500, 500)  # type: ignore[attr-defined]
    assert namespace["embedding"].shape == (500, 2)  # type: ignore[attr-defined]
