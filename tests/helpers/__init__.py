"""What the tests share, imported one way: ``from tests.helpers.<module> import ...``.

    paths              ROOT, APP, FIXTURES, SHARED_UD, ARTIFACTS: where things are in the checkout
    apptest            the app in Streamlit's AppTest, and what its pages hand to the browser
    arrays             ``decode``: a plotly array as sent to the browser and held by the page
    tiny_models        tiny random models built from configs (nothing downloaded): a BERT masked LM, a model
                       on PyTorch's own nn.TransformerEncoder, BART and GPT-2 saved to folders
    hf_families        one tiny random Hugging Face model per attention family attnviz claims, with inputs
    scoring_reference  the plain per-sentence scorer that the batched one is checked against
    payloads           hostile text: markup and script that must stay text wherever it is shown

The browser tests' harness is in tests/e2e/ (``server.py``: the app's server and the browser's flags;
``page.py``: the page object ``App``). Fixtures live in the conftest.py files, where pytest finds them;
no test imports a conftest.
"""
