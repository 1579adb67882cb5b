// Page probe (see grid_click_target.js), for page.eval_on_selector_all("path.arc", source): every arc drawn,
// as [query, key, weight] numbers from its data-from, data-to and data-weight (App.arcs in tests/e2e/page.py).
(els) => els.map(e => [+e.dataset.from, +e.dataset.to, +e.dataset.weight]);
