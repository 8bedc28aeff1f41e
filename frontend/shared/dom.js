// Small DOM builders every dashboard uses. Data text always goes in through textContent, never innerHTML.

/** A new element with an optional class and text. */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

/** An <option> for a <select>. */
export function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

/** A sidebar section with a title; returns [section, body]. */
export function section(title, bodyCls = "") {
  const sec = el("section", "nv-section");
  const body = el("div", bodyCls);
  sec.append(el("div", "nv-section-title", title), body);
  return [sec, body];
}

/**
 * A row of toggle buttons (one pressed at a time): `choices` is [[value, label, title?], ...].
 * Returns {el, set(value)}; `onPick(value)` runs on a click.
 */
export function segmented(label, choices, onPick) {
  const seg = el("div", "nv-seg");
  seg.setAttribute("role", "group");
  seg.setAttribute("aria-label", label);
  for (const [value, text, title] of choices) {
    const b = el("button", "", text);
    b.type = "button";
    b.dataset.value = value;
    if (title) b.title = title;
    b.addEventListener("click", () => onPick(value));
    seg.appendChild(b);
  }
  const set = (value) => { for (const b of seg.children) b.setAttribute("aria-pressed", String(b.dataset.value === value)); };
  return { el: seg, set };
}

/** A labelled field (label above a control) for the sidebar. */
export function field(labelText, control) {
  const f = el("div", "nv-field");
  const label = el("label", "", labelText);
  if (control.id) label.htmlFor = control.id;
  f.append(label, control);
  return f;
}

/** The page every dashboard builds: a sidebar and a main area in document.body; returns {side, main}. */
export function appShell(cls, label) {
  const app = el("div", `nv-app ${cls}`);
  const side = el("aside", "nv-sidebar");
  side.setAttribute("aria-label", label);
  const main = el("main", "nv-main");
  app.append(side, main);
  document.body.replaceChildren(app);
  return { side, main };
}
