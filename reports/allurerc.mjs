// Allure 3 configuration for `make report` (run by rig/report.py from the repository root; see reports/README.md).
//
// One self-contained HTML file (Awesome plugin, singleFile) in reports/html/, with the history of earlier runs
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
const name = ["rig", environment.rack, environment.build && `${environment.build} ${environment.firmware ?? ""}`]
  .filter(Boolean)
  .join(" · ");

export default {
  name,
  output,
  historyPath,
  historyLimit: 60,
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
