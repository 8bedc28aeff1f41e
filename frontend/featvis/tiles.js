// Cutting synthesized images out of an atlas (row-major tiles) onto canvases, with the transparency
// map (MACO) as the alpha channel when asked. Pixels are copied exactly (no smoothing).

/** A canvas holding tile `index` of `atlas` (ImageData), optionally with `alpha` (ImageData) as alpha. */
export function tileCanvas(atlas, alpha, grid, shape, index, canvas = document.createElement("canvas")) {
  const [, h, w] = shape;
  const cols = grid[1];
  const y0 = Math.floor(index / cols) * h, x0 = (index % cols) * w;
  canvas.width = w;
  canvas.height = h;
  const out = new ImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = ((y0 + y) * atlas.width + x0 + x) * 4, dst = (y * w + x) * 4;
      out.data[dst] = atlas.data[src];
      out.data[dst + 1] = atlas.data[src + 1];
      out.data[dst + 2] = atlas.data[src + 2];
      out.data[dst + 3] = alpha ? alpha.data[src] : 255;
    }
  }
  canvas.getContext("2d").putImageData(out, 0, 0);
  canvas.className = "nv-fv-tile-canvas";
  return canvas;
}
