// The sidebar's lists of runs and of layers (tags), shared by every dashboard: a listbox with keyboard
// navigation, a filter box that takes a regular expression (as TensorBoard's own tag filter does), and
// groups that fold away: a nested model's layers under its name, a block's layers under the block.

import { el } from "./dom.js";

// A layer path's group: its numbered block ("block_1_expand_BN" -> "block_1", "conv2_block1_1_conv" ->
// "conv2_block1", "block1a_se_excite" -> "block1a"), inside its nested model when it has one
// ("mobilenetv2/block_1_expand" -> "mobilenetv2/block_1"); else the nested model ("model/sub/conv" -> "model/sub").
const BLOCK = /^(.*?block_?\d+[a-z]?)(?=[_.:-])/i;

/** The group a layer path belongs to, or "" for none. */
export function groupOf(name) {
  const slash = name.lastIndexOf("/");
  const m = BLOCK.exec(name.slice(slash + 1));
  if (m) return name.slice(0, slash + 1) + m[1];
  return slash > 0 ? name.slice(0, slash) : "";
}

/** A case-insensitive matcher for the filter text: a regular expression, or plain text when it is not one. */
export function matcher(text) {
  if (!text) return { test: () => true, valid: true };
  try {
    const re = new RegExp(text, "i");
    return { test: (s) => re.test(s), valid: true };
  } catch (_) {
    const lower = text.toLowerCase();
    return { test: (s) => s.toLowerCase().includes(lower), valid: false };
  }
}

/**
 * A titled, filterable, groupable listbox.
 *   const list = new SideList(parent, {title: "Layers", cls: "nv-layer-list", onPick: (key) => ...});
 *   list.setItems([{key, name, meta, title, faint}], selectedKey);
 * Groups appear once a list is longer than `groupAbove` items and at least two groups have two or more
 * members; the group holding the selection is open.
 */
export class SideList {
  constructor(parent, { title, cls = "", onPick, filter = true, groupAbove = 16, filterAbove = 8, emptyText = "Nothing here." }) {
    this.onPick = onPick;
    this.groupAbove = groupAbove;
    this.filterAbove = filterAbove;
    this.emptyText = emptyText;
    this.items = [];
    this.selected = null;
    this.closed = new Set();
    this.opened = new Set();
    this.section = el("section", "nv-section");
    const head = el("div", "nv-section-title", title);
    this.count = el("span", "nv-list-count");
    head.append(this.count);
    this.filterBox = el("input", "nv-filter");
    this.filterBox.type = "search";
    this.filterBox.placeholder = "Filter (regex)";
    this.filterBox.setAttribute("aria-label", `Filter ${title.toLowerCase()}`);
    this.filterBox.hidden = !filter;
    this.filterBox.addEventListener("input", () => this.render());
    this.filterBox.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { e.preventDefault(); const first = this.list.querySelector(".nv-list-item"); if (first) first.focus(); }
    });
    this.allowFilter = filter;
    this.list = el("div", `nv-list ${cls}`);
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", title);
    this.section.append(head, this.filterBox, this.list);
    parent.append(this.section);
  }

  setItems(items, selected = this.selected) {
    this.items = items;
    this.selected = selected;
    this.render();
  }

  setSelected(key) {
    this.selected = key;
    for (const item of this.list.querySelectorAll(".nv-list-item")) item.setAttribute("aria-selected", String(item.dataset.key === key));
  }

  setFilter(text) {
    this.filterBox.value = text;
    this.render();
  }

  render() {
    const m = matcher(this.filterBox.value.trim());
    this.filterBox.classList.toggle("nv-invalid", !m.valid);
    this.filterBox.title = m.valid ? "" : "Not a regular expression: matching as plain text";
    this.filterBox.hidden = !this.allowFilter || (this.items.length <= this.filterAbove && !this.filterBox.value);
    const shown = this.items.filter((it) => m.test(it.name));
    this.count.textContent = shown.length === this.items.length ? "" : ` ${shown.length} of ${this.items.length}`;
    this.list.replaceChildren();
    if (!this.items.length) { this.list.append(el("div", "nv-faint nv-list-empty", this.emptyText)); return; }
    if (!shown.length) { this.list.append(el("div", "nv-faint nv-list-empty", "No match.")); return; }
    for (const node of this.layout(shown, !!this.filterBox.value.trim())) this.list.append(node);
  }

  /** Items in order, with runs of one group folded under a header (groups only where they help). */
  layout(shown, filtering) {
    const groups = new Map();
    for (const it of shown) {
      const g = groupOf(it.name);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(it);
    }
    const useful = [...groups].filter(([g, members]) => g && members.length > 1).length;
    if (this.items.length <= this.groupAbove || useful < 2) return shown.map((it) => this.itemNode(it));
    const out = [];
    const done = new Set();
    for (const it of shown) {
      const g = groupOf(it.name);
      const members = groups.get(g);
      if (!g || members.length < 2) { out.push(this.itemNode(it)); continue; }
      if (done.has(g)) continue;
      done.add(g);
      const hasSel = members.some((x) => x.key === this.selected);
      const open = filtering || this.opened.has(g) || (hasSel && !this.closed.has(g));
      out.push(this.groupNode(g, members, open));
    }
    return out;
  }

  groupNode(g, members, open) {
    const box = el("div", "nv-group");
    const head = el("button", "nv-group-head");
    head.type = "button";
    head.setAttribute("aria-expanded", String(open));
    head.append(el("span", "nv-group-caret", open ? "▾" : "▸"), el("span", "nv-name", g), el("span", "nv-meta", String(members.length)));
    head.title = `${g}: ${members.length} layers`;
    head.addEventListener("keydown", (e) => this.arrowKeys(head, e));
    head.addEventListener("click", () => {
      if (open) { this.closed.add(g); this.opened.delete(g); } else { this.opened.add(g); this.closed.delete(g); }
      this.render();
      const again = [...this.list.querySelectorAll(".nv-group-head")].find((h) => h.title === head.title);
      if (again) again.focus();
    });
    box.append(head);
    if (open) {
      const inner = el("div", "nv-group-items");
      for (const it of members) inner.append(this.itemNode(it, g));
      box.append(inner);
    }
    return box;
  }

  itemNode(it, group = "") {
    const item = el("div", "nv-list-item");
    item.tabIndex = 0;
    item.dataset.key = it.key;
    item.setAttribute("role", "option");
    item.setAttribute("aria-selected", String(it.key === this.selected));
    // Inside a group the shared prefix is implied; the full name stays in the tooltip.
    const label = group && it.name.startsWith(group) && it.name.length > group.length ? it.name.slice(group.length).replace(/^[_/.:-]/, "") : it.name;
    const name = el("span", "nv-name", label);
    name.title = it.title || it.name;
    item.append(name);
    if (it.meta !== undefined) item.append(el("span", "nv-meta", it.meta));
    if (it.faint) item.classList.add("nv-nodata");
    const go = () => this.onPick(it.key);
    item.addEventListener("click", go);
    item.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } else this.arrowKeys(item, e);
    });
    return item;
  }

  /** Up and down arrows move between the items and group headers that are shown. */
  arrowKeys(node, e) {
    const all = [...this.list.querySelectorAll(".nv-list-item, .nv-group-head")];
    const i = all.indexOf(node);
    if (e.key === "ArrowDown" && i + 1 < all.length) { e.preventDefault(); all[i + 1].focus(); }
    else if (e.key === "ArrowUp" && i > 0) { e.preventDefault(); all[i - 1].focus(); }
  }
}
