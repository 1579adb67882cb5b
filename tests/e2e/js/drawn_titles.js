// The views' Streamlit entry point (attnviz/static/attnviz_views.js, imported as a module) called on one element
// with drawings in the given order, as Streamlit's calls can arrive; the title shown after each call.
async ([js, calls]) => {
  const url = URL.createObjectURL(new Blob([js], {type: "text/javascript"}));
  const views = await import(url);
  const host = document.createElement("div");
  document.body.appendChild(host);
  const shown = [];
  for (const data of calls) {
    views.default({data, parentElement: host});
    shown.push(host.querySelector("svg title")?.textContent ?? null);
  }
  return shown;
}
