"""attnviz's tests, laid out like the code they test:

    lib/      the library, attnviz/ (test_<module>.py)
    app/      the app (app.py, pages/, components/) in Streamlit's AppTest, in process
    e2e/      the app as a person uses it: a real server and headless Chromium (marked e2e)
    helpers/  what the tests share: ``from tests.helpers.<module> import ...``
    test_docs.py, test_layers.py   the repository itself: its documents' links, its import layers
"""
