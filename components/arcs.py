"""The arc view: attnviz's SVG in a small custom component that isolates a token's links.

The SVG comes from ``attnviz.figures.arcs_svg`` (token text escaped there). The
component parses it as XML (never as HTML), drops anything that is not plain SVG
drawing (no scripts, no event-handler attributes), and adds hover/click behaviour:
hovering a token shows only its outgoing and incoming links; a click pins that choice.
A drawing up to 1.6 times wider than its column shrinks to fit; a wider one scrolls.
"""

from __future__ import annotations

import streamlit as st

_CSS = """
.attnviz-arcs { overflow-x: auto; overflow-y: hidden; padding-bottom: 4px; }
.attnviz-arcs text.token { cursor: pointer; }
.attnviz-arcs text.token.active { font-weight: 700; fill: #d62728; }
.attnviz-arcs path.arc { transition: opacity 120ms; }
.attnviz-arcs path.arc.dim { opacity: 0.04; }
.attnviz-arcs .hint { font: 12px sans-serif; color: #888; margin: 2px 0 0 0; }
"""

_JS = """
const ALLOWED = new Set(["svg", "g", "path", "text", "tspan", "title", "desc", "rect", "line",
                         "circle", "ellipse", "polyline", "polygon", "defs", "marker"]);

const MAX_SHRINK = 1.6;  // shrink to fit a drawing at most this many times wider than its column

function clean(node) {
  for (const el of Array.from(node.querySelectorAll("*"))) {
    if (!ALLOWED.has(el.localName)) { el.remove(); continue; }
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on") || name.includes("href")) el.removeAttribute(attr.name);
    }
  }
}

export default function ({ data, parentElement }) {
  let root = parentElement.querySelector(".attnviz-arcs");
  if (!root) {
    root = document.createElement("div");
    root.className = "attnviz-arcs";
    parentElement.appendChild(root);
  }
  const parsed = new DOMParser().parseFromString(data.svg, "image/svg+xml");
  const svg = parsed.documentElement;
  if (svg.localName !== "svg" || parsed.querySelector("parsererror")) {
    root.textContent = "The arc view could not be drawn.";
    return;
  }
  clean(svg);
  const hint = document.createElement("p");
  hint.className = "hint";
  hint.textContent = "Hover a token to isolate its links; click to pin.";
  const shown = document.importNode(svg, true);
  root.replaceChildren(shown, hint);

  // A drawing a little wider than its column shrinks to fit; a long one keeps its size and scrolls.
  const natural = parseFloat(shown.getAttribute("width")) || 0;
  const fit = () => {
    const room = root.clientWidth;
    const shrink = natural > room && room > 0 && natural <= MAX_SHRINK * room;
    shown.style.width = shrink ? "100%" : "";
    shown.style.height = shrink ? "auto" : "";
  };
  fit();
  if (root._observer) root._observer.disconnect();
  root._observer = new ResizeObserver(fit);
  root._observer.observe(root);

  let pinned = null;
  const show = (index) => {
    for (const arc of root.querySelectorAll("path.arc")) {
      const on = index === null || arc.dataset.from === index || arc.dataset.to === index;
      arc.classList.toggle("dim", !on);
    }
    for (const tok of root.querySelectorAll("text.token")) {
      tok.classList.toggle("active", tok.dataset.index === index);
    }
  };
  for (const tok of root.querySelectorAll("text.token")) {
    tok.addEventListener("mouseenter", () => { if (pinned === null) show(tok.dataset.index); });
    tok.addEventListener("mouseleave", () => { if (pinned === null) show(null); });
    tok.addEventListener("click", () => {
      pinned = pinned === tok.dataset.index ? null : tok.dataset.index;
      show(pinned);
    });
  }
}
"""

_mount = st.components.v2.component("attnviz.arcs", css=_CSS, js=_JS)


def arc_view(svg: str, key: str) -> None:
    """Show an arcs SVG (from ``attnviz.figures.arcs_svg``) with hover/click isolation."""
    _mount(data={"svg": svg}, key=key)
