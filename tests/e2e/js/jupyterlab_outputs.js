// Not a probe: the script of tests/e2e/test_html_export.py's page that shows notebook outputs as JupyterLab
// does, called there with the outputs' HTML: each output set as a cell's innerHTML, then every script in it
// made again so that it runs; then this script's own element is removed (it is not an output).
(outputs) => {
  for (const html of outputs) {
    const cell = document.createElement("div");
    cell.className = "jp-OutputArea-output";
    cell.innerHTML = html;
    document.getElementById("outputs").append(cell);
    for (const old of Array.from(cell.getElementsByTagName("script"))) {
      const s = document.createElement("script");
      for (const a of Array.from(old.attributes)) s.setAttribute(a.name, a.value);
      s.textContent = old.textContent;
      old.replaceWith(s);
    }
  }
  document.currentScript.remove();  // the harness, not an output: gone before the page is inspected
};
