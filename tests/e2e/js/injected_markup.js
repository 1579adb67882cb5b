// Page probe (see grid_click_target.js): live <img>/<script>/<iframe>/javascript: links made from a payload
// (found by its marker), and images or frames from another origin, in the document and in every open
// shadow root (the arcs component mounts in one). An empty list when there is none.
(marker) => {
  const found = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll("*")) {
      const tag = el.localName;
      if (tag === "img" && (el.getAttribute("src") === "x" || (el.getAttribute("onerror") || "").includes(marker)))
        found.push("img: " + el.outerHTML.slice(0, 120));
      if (tag === "script" && (el.textContent.includes(marker) || (el.getAttribute("src") || "").startsWith("javascript:")))
        found.push("script: " + el.outerHTML.slice(0, 120));
      if (tag === "iframe" && (el.getAttribute("srcdoc") || "").includes(marker))
        found.push("iframe: " + el.outerHTML.slice(0, 120));
      if ((tag === "img" || tag === "iframe" || tag === "image") && el.getAttribute("src")) {
        const url = new URL(el.getAttribute("src"), location.href);  // nothing is loaded from elsewhere
        if (url.protocol !== "data:" && url.origin !== location.origin) found.push(`${tag} from ${url.href}`);
      }
      for (const attr of el.getAttributeNames()) {
        const v = el.getAttribute(attr) || "";
        if (attr.startsWith("on") && v.includes(marker)) found.push(`${tag}[${attr}]`);
        if (/href|src|action/.test(attr) && /^\s*javascript:/i.test(v)) found.push(`${tag}[${attr}=${v.slice(0, 60)}]`);
      }
      if (el.shadowRoot) visit(el.shadowRoot);
    }
  };
  visit(document);
  return found;
};
