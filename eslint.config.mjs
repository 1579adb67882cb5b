// eslint flat config for attnviz's JavaScript: eslint's recommended rules, browser globals.
//   components/js/, attnviz/static/   the views: ES modules (Streamlit imports the default export;
//                    attnviz.html_view inlines attnviz/static/ into notebook outputs and HTML files)
//   tests/e2e/js/    page probes: one function expression each, for playwright's page.evaluate, wait_for_function
//                    and eval_on_selector_all (no JavaScript in the tests' Python strings)
//   benchmarks/js/   the latency benchmark's in-page helpers and end points, the same way
import js from "@eslint/js";
import globals from "globals";

export default [
  {ignores: ["node_modules/", "test-artifacts/", ".venv/", "build/"]},
  js.configs.recommended,
  {
    files: ["components/js/**/*.js", "attnviz/static/**/*.js"],
    languageOptions: {ecmaVersion: 2022, sourceType: "module", globals: globals.browser},
  },
  {
    files: ["tests/**/*.js", "benchmarks/**/*.js"],
    languageOptions: {ecmaVersion: 2022, sourceType: "script", globals: globals.browser},
  },
  {
    files: ["eslint.config.mjs"],
    languageOptions: {ecmaVersion: 2022, sourceType: "module", globals: globals.node},
  },
];
