// Top examples as the Deep Visualization Toolbox shows them: each example cropped to the receptive field of
// the unit at its peak (the input region that can affect that activation), with the whole image, the field
// outlined, a hover away. The crop comes from the /top answer (`crop`: [[top, bottom], [left, right]] in
// input pixels, stop exclusive); a square window around it keeps the pixels square.

/** Crop `img` (inside `box`, an .nv-top-img) to `crop`; does nothing when the field covers the image. */
export function showCrop(box, img, crop) {
  if (!Array.isArray(crop) || !crop.length) return;
  const apply = () => {
    const H = img.naturalHeight, W = img.naturalWidth;
    if (!H || !W) return;
    const [[y0, y1], [x0, x1]] = crop.length === 2 ? crop : [[0, H], crop[0]];
    if (y1 - y0 >= H && x1 - x0 >= W) return;
    const s = Math.max(y1 - y0, x1 - x0);
    const top = (y0 + y1 - s) / 2, left = (x0 + x1 - s) / 2;
    box.style.setProperty("--nv-crop-w", `${(W / s) * 100}%`);
    box.style.setProperty("--nv-crop-h", `${(H / s) * 100}%`);
    box.style.setProperty("--nv-crop-x", `${(-left / s) * 100}%`);
    box.style.setProperty("--nv-crop-y", `${(-top / s) * 100}%`);
    const frame = document.createElement("span");
    frame.className = "nv-crop-frame";
    Object.assign(frame.style, {
      left: `${(x0 / W) * 100}%`, top: `${(y0 / H) * 100}%`,
      width: `${((x1 - x0) / W) * 100}%`, height: `${((y1 - y0) / H) * 100}%`,
    });
    box.append(frame);
    box.classList.add("nv-cropped");
    box.dataset.crop = JSON.stringify([[y0, y1], [x0, x1]]);
    const item = box.parentElement;
    if (item) item.title += ` · receptive field rows ${y0}–${y1 - 1}, columns ${x0}–${x1 - 1} (hover: whole image)`;
  };
  if (img.complete && img.naturalWidth) apply();
  else img.addEventListener("load", apply, { once: true });
}
