"""Hostile text: markup, script and template syntax that must stay text wherever attnviz or the app shows it
(typed into the app in tests/e2e/test_hostile.py, put into the interactive HTML file in tests/e2e/test_html_export.py)."""

PAYLOADS = {
    "img-onerror": "<img src=x onerror=alert(1)>",
    "script-close": "</script><script>alert(1)</script>",
    "template": "{{7*7}}",
    "javascript-url": "javascript:alert(1)",
    "markdown-js-link": "[click](javascript:alert(1))",
}
ALL_PAYLOADS = " ".join(PAYLOADS.values())
