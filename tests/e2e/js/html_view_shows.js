// Page probe (tests/e2e/test_html_export.py, for page.wait_for_function): whether the first arc view of an
// attnviz HTML page shows `view` ("<kind> <layer> <head>", 0-based: its data-view).
(view) => document.querySelector(".attnviz-arc-view").dataset.view === view;
