// Page probe (tests/e2e/test_first_screen.py): the first screen's strip cards (components/js/head_strip.js,
// in a component's shadow root) as drawn: head, title, caption, selection, box and number of words.
() => {
  const find = (root) => { for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('attnviz-strip')) return el;
      if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; } } return null; };
  const strip = find(document);
  if (!strip) return [];
  return [...strip.querySelectorAll('.card')].map(card => {
    const box = card.getBoundingClientRect(), svg = card.querySelector('svg').getBoundingClientRect();
    return {head: card.dataset.head, title: card.querySelector('.title').textContent,
            caption: card.querySelector('.caption').textContent, selected: card.classList.contains('selected'),
            top: box.top, bottom: box.bottom, left: box.left, right: box.right, drawing: svg.width * svg.height,
            words: card.querySelectorAll('text.word').length};
  });
}
