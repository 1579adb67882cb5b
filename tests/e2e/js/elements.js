// Page probe (see grid_click_target.js), for page.eval_on_selector_all(selector, source), locator.evaluate_all
// and locator.evaluate (one element): what the tests read of the elements of a drawing (arcs, head groups),
// each as {data: its data-* attributes as written, classes, d: its path, display and stroke: its computed
// style, inlineDisplay: the display its own style attribute sets ("" when none)}. elements() in tests/e2e/page.py.
(target) => (Array.isArray(target) ? target : [target]).map(e => {
  const style = getComputedStyle(e);
  return {data: {...e.dataset}, classes: [...e.classList], d: e.getAttribute("d"), display: style.display,
    stroke: style.stroke, inlineDisplay: e.style.display};
});
