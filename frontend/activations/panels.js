// The panels the first grid does not need: the selected unit (unit.js with its detail, crops, LRP heatmap and
// weights), the units-over-training overview and the weight dynamics. They are imported once the first grid is
// drawn, so that their eight module files and two stylesheets do not queue in front of the first grid's on the
// browser's six connections. Until then the app talks to stand-ins that do nothing: what the panels show is in
// the app's state, and `attach` shows it.

const DEFERRED = ["./unit.js", "./detail.js", "./crops.js", "./unit_heatmap.js", "./weights.js", "./overview.js",
  "./dynamics.js", "../shared/heatmap.js"];

const NOOP = () => {};

/** Stand-ins with the panels' interface, for the app to use before `attach`. */
export function standIns() {
  const overview = { setOptions: NOOP, setCursor: NOOP, setData: NOOP, draw: NOOP };
  return {
    unit: { topReq: null, col: { hidden: true }, stopPlay: NOOP, reset: NOOP, hide: NOOP, show: NOOP },
    overview,
    overviewCard: { overview, statSel: { value: "" }, fetch: () => new Promise(NOOP), show: NOOP }, // if never loaded
    dynamics: { show: NOOP, draw: NOOP },
  };
}

/** Imports the panels (all their modules asked for at once) and builds them into the app's page:
 * `detailCol` beside the grid, the overview and dynamics cards at the end of `content`. */
export async function attach(app, detailCol, content) {
  for (const path of DEFERRED) {
    const link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = new URL(path, import.meta.url).href;
    document.head.append(link);
  }
  const [{ UnitView }, { OverviewCard }, { WeightDynamics }] = await Promise.all(
    [import("./unit.js"), import("./overview.js"), import("./dynamics.js")]);
  app.unit = new UnitView(detailCol, app);
  app.overviewCard = new OverviewCard(content, {
    onPick: (u, step) => app.pickFromOverview(u, step),
    onStat: (stat) => { app.S.stat = stat; },
  });
  app.overview = app.overviewCard.overview;
  app.dynamics = new WeightDynamics(content); // weight norms and update ratios, when logged
}
