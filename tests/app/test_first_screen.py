"""What a page's first screen imports is light: the server's lifespan imports it before it answers (and a page
draws from it before torch loads), so that heavy packages load in the warm-up's thread instead (components/startup.py)."""

from __future__ import annotations

import subprocess
import sys

from components.lifespan import FIRST_SCREEN
from tests.helpers.paths import ROOT

HEAVY = ("torch", "transformers", "pandas", "scipy", "spacy")  # not plotly: Streamlit imports it itself


def test_the_first_screen_imports_none_of_the_heavy_packages():
    code = (f"import sys, importlib; [importlib.import_module(m) for m in {FIRST_SCREEN!r}]; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_the_first_screen_holds_what_every_page_imports_before_it_waits_for_the_warm_up():
    # pages/*.py: the imports above ``startup.ready()`` / ``sidebar`` / ``sentence_page`` (the rest come after it)
    for page in sorted((ROOT / "pages").glob("*.py")):
        head = page.read_text(encoding="utf-8").split("ensure_app()")[0]
        imported = {line.split()[1] for line in head.splitlines() if line.startswith(("import ", "from "))}
        light = {"streamlit", "attnviz", "components", "components.navigation", "__future__"}
        assert imported <= light, f"{page.name} imports {sorted(imported - light)} before its first screen"
