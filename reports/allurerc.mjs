// Allure 3 configuration for `make report` (run by rig/report.py from the repository root; see reports/README.md).
//
// One self-contained HTML file (Awesome plugin, singleFile) in the run's folder, with the history of earlier runs
// kept in reports/history.jsonl so that each scenario shows how it fared night after night. The categories
// (firmware defects apart from rig faults) are the ones the pytest plugin writes into the results
// (rig/fixtures/reporting.py), so they are defined once. Nothing here reaches the network.
import { existsSync, readFileSync } from "node:fs";

const results = process.env.RIG_ALLURE_RESULTS ?? "reports/allure-results";
const output = process.env.RIG_REPORT_DIR ?? "reports/html";
const historyPath = process.env.RIG_REPORT_HISTORY ?? "reports/history.jsonl";

const readJson = (path, fallback) => (existsSync(path) ? JSON.parse(readFileSync(path, "utf-8")) : fallback);

const environment = {};
if (existsSync(`${results}/environment.properties`)) {
  for (const line of readFileSync(`${results}/environment.properties`, "utf-8").split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) environment[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
}
// rig/report.py names the report after the run (and says there when the run ended early: killed, interrupted,
// rack unusable, with the tests planned, run and not run); without it, the name comes from the environment.
const name =
  process.env.RIG_REPORT_NAME ??
  ["rig", environment.rack, environment.build && `${environment.build} ${environment.firmware ?? ""}`]
    .filter(Boolean)
    .join(" · ");
// The run's record (run.json), shown as the report's variables: how the run ended and how much of it ran.
const run = process.env.RIG_RUN_RECORD ? JSON.parse(process.env.RIG_RUN_RECORD) : null;
const variables = run
  ? Object.fromEntries(
      [
        ["run", run.run],
        ["status", run.status],
        ["tests planned", run.planned],
        ["tests run", run.ran],
        ["tests not run", run.not_run],
        ["why it ended", run.reason],
      ]
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, String(v)]),
    )
  : {};

export default {
  name,
  output,
  historyPath,
  historyLimit: 60,
  variables,
  categories: readJson(`${results}/categories.json`, []),
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportName: name,
        reportLanguage: "en",
        groupBy: ["parentSuite", "suite"],
      },
    },
  },
};
