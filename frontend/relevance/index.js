// Entry point that TensorBoard loads (served as ./index.js next to <base href="plugin/nnvis_relevance/">).
export { render } from "./static/relevance/app.js";
