"""``python -m attnviz.heads ...``: the same as ``attnviz heads ...`` (see ``attnviz.cli``)."""

import sys

from attnviz.cli import heads_main, run

if __name__ == "__main__":
    sys.exit(run(heads_main, sys.argv[1:], prog="python -m attnviz.heads"))
