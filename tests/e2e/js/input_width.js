// Page probe (tests/e2e/test_ux.py): the input under .st-key-{key} (a select box's text): its value, the
// width its text needs and the width it has, [value, scrollWidth, clientWidth].
(key) => {
  const i = document.querySelector(`.st-key-${key} input`);
  return [i.value, i.scrollWidth, i.clientWidth];
};
