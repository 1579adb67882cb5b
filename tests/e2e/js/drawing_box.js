// Page probe (tests/e2e/test_ux.py): the first element matching the selector `drawing` under .st-key-{key}
// (found through open shadow roots, where the components draw) as rendered: its width, its column's width,
// whether its scroll box (.attnviz-arcs) or the main area scrolls sideways, and its layout (data-layout).
([key, drawing]) => {
  const host = document.querySelector(`.st-key-${key}`);
  const find = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.matches && el.matches(drawing)) return el;
      if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
    }
    return null;
  };
  const svg = find(host), box = svg.closest(".attnviz-arcs");
  const main = document.querySelector('[data-testid="stMain"]');
  return {svg: svg.getBoundingClientRect().width, column: host.getBoundingClientRect().width,
    scrolls: box.scrollWidth > box.clientWidth + 1, page: main.scrollWidth > main.clientWidth + 1,
    layout: svg.dataset.layout || "arcs"};
};
