"""attnviz: see what attention heads look at. Run with: streamlit run app.py"""

# The attnviz package first, before any of its modules: sessions start in threads of their own, and a thread
# importing one of its modules while another runs the package's __init__ can get that module half made
# ("partially initialized module", seen with four sessions opened at once). The package itself is light (its
# heavy names load on first use); the pages draw their first screen, then import torch and the views in one
# thread (components/startup.py).
import attnviz  # noqa: F401
from components.navigation import run_app

run_app()
