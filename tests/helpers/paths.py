"""Where things are: the checkout the tests run in, its app, the tests' fixtures, the shared UD file."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the app's entry point, as AppTest.from_file and ``streamlit run`` take it
APP = str(ROOT / "app.py")
#: small data files of the tests (tests/fixtures/tiny.conllu)
FIXTURES = ROOT / "tests" / "fixtures"
#: gold UD trees beside the checkout (../shared/ud), not part of the repository: tests that need it skip without it
SHARED_UD = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"
#: screenshots, server logs and tables the tests write (ignored by git)
ARTIFACTS = ROOT / "test-artifacts"
