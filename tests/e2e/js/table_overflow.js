// Page probe (tests/e2e/test_ux.py): how far the data grid whose table contains `text` overflows its
// scroller, [sideways, down] in pixels (0 when everything fits); null while there is no such grid.
(text) => {
  const t = [...document.querySelectorAll('[data-testid="stDataFrame"]')]
    .find(d => [...d.querySelectorAll("table")].some(x => x.innerText.includes(text)));
  const s = t && t.querySelector(".dvn-scroller");
  return s ? [s.scrollWidth - s.clientWidth, s.scrollHeight - s.clientHeight] : null;
};
