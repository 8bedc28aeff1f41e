// Entry point that TensorBoard loads (served as ./index.js next to <base href="plugin/nnvis_featvis/">).
// Everything else lives under ./static/ so that each module has exactly one URL.
export { render } from "./static/featvis/app.js";
