// Step slider over the list of loaded steps (not a continuous range): the thumb moves between
// indices of `steps`, the label says which step and how many are loaded, and a hint explains how to
// load more (TensorBoard keeps `sample_limit` samples per tag).

export class StepSlider {
  /**
   * @param parent element to append to
   * @param onChange (step, index) => void, called on user input (not on setValue)
   */
  constructor(parent, onChange) {
    this.onChange = onChange;
    this.steps = [];
    this.el = document.createElement("div");
    this.el.className = "nv-slider-box";

    const row = document.createElement("div");
    row.className = "nv-slider";
    this.prev = document.createElement("button");
    this.prev.className = "nv-btn nv-icon";
    this.prev.type = "button";
    this.prev.textContent = "‹";
    this.prev.title = "Previous step";
    this.prev.setAttribute("aria-label", "Previous step");
    this.input = document.createElement("input");
    this.input.type = "range";
    this.input.min = "0";
    this.input.max = "0";
    this.input.step = "1";
    this.input.setAttribute("aria-label", "Step");
    this.next = document.createElement("button");
    this.next.className = "nv-btn nv-icon";
    this.next.type = "button";
    this.next.textContent = "›";
    this.next.title = "Next step";
    this.next.setAttribute("aria-label", "Next step");
    this.label = document.createElement("span");
    this.label.className = "nv-slider-label";
    row.append(this.prev, this.input, this.next, this.label);

    this.hint = document.createElement("div");
    this.hint.className = "nv-hint";
    this.el.append(row, this.hint);
    if (parent) parent.appendChild(this.el);

    this.input.addEventListener("input", () => this._emit(Number(this.input.value)));
    this.prev.addEventListener("click", () => this._emit(this._neighbour(-1)));
    this.next.addEventListener("click", () => this._emit(this._neighbour(+1)));
    this.sampleLimit = null;
    this.hintText = "";
    this.currentStep = null;
  }

  /** Index of the loaded step before (dir −1) / after (+1) the current one, also when the current
   *  step is not loaded (e.g. a deep link to a step TensorBoard dropped). */
  _neighbour(dir) {
    const n = this.steps.length;
    const i = this.steps.indexOf(this.currentStep);
    if (i >= 0) return Math.max(0, Math.min(n - 1, i + dir));
    const cur = Number(this.currentStep);
    if (dir < 0) {
      let k = -1;
      this.steps.forEach((s, j) => { if (s < cur) k = j; });
      return k >= 0 ? k : 0;
    }
    const k = this.steps.findIndex((s) => s > cur);
    return k >= 0 ? k : n - 1;
  }

  _emit(i) {
    if (!this.steps.length || i < 0) return;
    this.input.value = String(i);
    this.currentStep = this.steps[i];
    this._label();
    if (this.onChange) this.onChange(this.steps[i], i);
  }

  /** steps: ascending numbers. */
  setSteps(steps, { sampleLimit = null, hint = "" } = {}) {
    this.steps = steps.slice();
    this.sampleLimit = sampleLimit;
    this.hintText = hint;
    this.input.max = String(Math.max(0, steps.length - 1));
    const dis = steps.length <= 1;
    this.input.disabled = dis;
    this.prev.disabled = dis;
    this.next.disabled = dis;
    this._label();
  }

  /** Shows `step`; when it is not one of the loaded steps the label says so. */
  setValue(step) {
    this.currentStep = step;
    const i = this.steps.indexOf(step);
    if (i >= 0) this.input.value = String(i);
    this._label();
  }

  indexOf(step) { return this.steps.indexOf(step); }

  _label() {
    const n = this.steps.length;
    const i = this.steps.indexOf(this.currentStep);
    this.label.replaceChildren();
    const b = document.createElement("b");
    b.textContent = this.currentStep === null || this.currentStep === undefined ? "step –" : `step ${this.currentStep}`;
    const rest = document.createElement("span");
    rest.className = "nv-muted";
    if (i < 0 && this.currentStep !== null && this.currentStep !== undefined) {
      rest.textContent = ` · not loaded · ${n} step${n === 1 ? "" : "s"} loaded`;
    } else {
      rest.textContent = ` · ${i + 1} of ${n} step${n === 1 ? "" : "s"} loaded`;
    }
    this.label.append(b, rest);
    if (i < 0) {
      this.prev.disabled = this.next.disabled = n === 0;
    } else {
      this.prev.disabled = n <= 1 || i <= 0;
      this.next.disabled = n <= 1 || i >= n - 1;
    }
    this.input.disabled = n <= 1 && i >= 0;
    const parts = [];
    if (this.sampleLimit) parts.push(`TensorBoard keeps up to ${this.sampleLimit} steps per layer.`);
    if (this.hintText) parts.push(this.hintText);
    this.hint.textContent = parts.join(" ");
    this.hint.hidden = parts.length === 0;
  }
}
