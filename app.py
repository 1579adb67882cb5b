"""attnviz: see what attention heads look at. Run with: streamlit run app.py"""

# The whole attnviz package first, before any of its modules: sessions start in threads of their own, and a
# thread importing a submodule (holding its lock) while another initialises the package deadlocks Python's import
# ("partially initialized module"), as four sessions opened at once showed.
import attnviz  # noqa: F401
from components.navigation import run_app

run_app()
