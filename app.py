"""attnviz: see what attention heads look at. Run with: streamlit run app.py"""

from components.navigation import run_app

run_app()
