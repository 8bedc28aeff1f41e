// Entry point that TensorBoard loads (served as ./index.js next to <base href="plugin/nnvis_rnn/">).
// Everything else lives under ./static/ so that each module has exactly one URL.
export { render } from "./static/rnn/app.js";
