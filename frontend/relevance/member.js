// A SpRAy member as a subject of the Relevance tab's main view (image.js draws it with the same components,
// controls and colour scale as a probe): its input thumbnail and relevance map (as SpRAy analysed it,
// pooled to the analysis size), the other members of its cluster, and the same example at every loaded
// step where it was analysed.

import { symmetricScale } from "../shared/heatmap.js";
import { el } from "../shared/dom.js";
import { heatmapStrip, FILM } from "./image.js";
import { thumbnail } from "./spray_plots.js";

const SEP = "\u0000";

/** Member `i` of the Strategies view `sv` (its loaded step) as a subject for ImageView.show. */
export function memberSubject(sv, i) {
  const { data, atlas } = sv.cur;
  const [h, w] = data.size;
  const composite = sv.S.set.split(SEP)[1];
  const who = data.class_name ? `${data.class_name} (class ${data.target})` : `class ${data.target}`;
  return {
    title: `Example #${data.indices[i]}`,
    sub: `SpRAy · relevance for ${who} · cluster ${data.labels[i]} · step ${data.step}`,
    note: "",
    closeText: "× Back to the probes",
    onClose: () => sv.closeMember(),
    load: async () => {
      const values = await sv.memberMap(i);
      const footer = el("div", "nv-conservation", `summed over channels, averaged to ${h}×${w}: the map SpRAy clusters`);
      return { image: thumbnail(atlas, data.grid, data.size, i), maps: [{ composite, values, h, w, footer }] };
    },
    details: () => [],
    strips: () => [clusterStrip(sv, i), overTraining(sv, i)],
  };
}

/** Draws member j of a SpRAy answer (`data`, `atlas` at its step) on the app's scale and opacity. */
function drawMember(sv, hm, data, atlas, j, values) {
  const [h, w] = data.size;
  const { pct, opacity } = sv.app.S;
  const image = thumbnail(atlas, data.grid, data.size, j);
  hm.draw({ values, h, w, m: symmetricScale(values, pct), image, opacity: image ? opacity : 1 });
}

/** The loaded members of i's cluster (the view shows the first ones of each); click one to open it. */
function clusterStrip(sv, i) {
  const { data, atlas, maps } = sv.cur;
  const c = data.labels[i];
  const members = data.labels.map((l, j) => (l === c && (maps[j] || j === i) ? j : -1)).filter((j) => j >= 0);
  const items = members.map((j) => ({
    label: `#${data.indices[j]}`, aria: `example ${data.indices[j]}`, pressed: j === i, dataset: { member: String(j) },
    onClick: () => sv.openMember(j),
    draw: async (hm) => drawMember(sv, hm, data, atlas, j, await sv.memberMap(j)),
  }));
  const shown = members.length < data.sizes[c] ? `${members.length} of ${data.sizes[c]}` : `all ${data.sizes[c]}`;
  return heatmapStrip(`Cluster ${c} · ${shown} members`, items);
}

/** Example #index at every loaded step where it was analysed (each frame on its own scale); click to go there. */
function overTraining(sv, i) {
  const index = sv.cur.data.indices[i];
  const items = sv.history.map(({ step }) => ({
    label: `step ${step}`, aria: `step ${step}`, pressed: step === sv.S.step, size: 72, dataset: { step: String(step) },
    onClick: () => sv.setStep(step),
    draw: async (hm, b) => {
      const data = await sv.fetch("spray/data", { step });
      const j = data.indices.indexOf(index);
      if (j < 0) { b.title = `step ${step}: example #${index} was not analysed`; throw new Error("not analysed"); }
      const [answer, atlas] = await Promise.all([sv.fetch("spray/maps", { step, members: String(j) }), sv.atlas(data, step)]);
      drawMember(sv, hm, data, atlas, j, Float32Array.from(answer.maps[0]));
      b.title = `step ${step}: cluster ${data.labels[j]} of ${data.n_clusters}`;
    },
  }));
  return heatmapStrip(`Example #${index} over training · each frame on its own scale`, items, FILM);
}
