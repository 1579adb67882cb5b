// Page probe (tests/e2e/test_hostile.py): the positions of the labelled y ticks of the plotly chart under
// .st-key-{key} (its layout's yaxis.tickvals, as integers: token positions).
(key) => document.querySelector(`.st-key-${key} .js-plotly-plot`).layout.yaxis.tickvals.map(v => parseInt(v));
