// Page probe (tests/e2e/test_ux.py): whether the top of the element under .st-key-{key} is in the window,
// with room below it (from 5 px above the top edge to 100 px above the bottom one).
(key) => {
  const r = document.querySelector(`.st-key-${key}`).getBoundingClientRect();
  return r.top >= -5 && r.top < window.innerHeight - 100;
};
