// What every dashboard's render() does: theme, its stylesheet, build the app, show a start-up error in the
// page (never a stack trace), and expose the app for tests and debugging.

import { addStylesheet, installTheme, themeReady } from "./theme.js";
import { showError } from "./api.js";

/**
 * Builds `new App()` into document.body and awaits `app.start()`.
 *   export const render = () => mountDashboard(MyApp, {css: new URL("./style.css", import.meta.url).href,
 *                                                      global: "__nnvisMine", title: "Mine"});
 */
export async function mountDashboard(App, { css, global, title }) {
  installTheme();
  if (css) addStylesheet(css);
  await themeReady();
  const app = new App();
  if (global) window[global] = app;
  try {
    await app.start();
  } catch (e) {
    console.error(e);
    showError(app.main || document.body, e, { title: `The ${title} dashboard hit an error`, replace: false });
  }
  return app;
}
