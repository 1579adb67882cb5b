"""Tests of the app (app.py, pages/, components/) in Streamlit's AppTest: the real runtime, in process, no browser."""
