"""Streamlit pieces of the attnviz app: controls, cached data, and the views' widgets."""
