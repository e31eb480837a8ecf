// The ladder editor: CodeMirror over the form's textarea (the form still posts the text, so
// Check and Publish work as without script), and the live check: a pause in typing sends the
// text to the dashboard, which lints it as `yesladder lint` does; the findings come back onto
// their lines, with the ladder, the diff and the preview links. Everything shown is set as
// text (never as HTML): the spec and the findings may quote what a visitor typed.
import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";

const PAUSE_MS = 300;

function start() {
  const form = document.getElementById("editor-form");
  const textarea = document.getElementById("spec");
  if (!form || !textarea) return;
  let timer = null;
  let asked = 0;
  const times = (window.yesladderLintTimes = []);

  const view = new EditorView({
    doc: textarea.value,
    extensions: [
      basicSetup,
      yaml(),
      lintGutter(),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": "Spec (YAML)" }),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        textarea.value = update.state.doc.toString();
        clearTimeout(timer);
        timer = setTimeout(check, PAUSE_MS);
      }),
    ],
  });
  textarea.parentNode.insertBefore(view.dom, textarea);
  textarea.hidden = true;
  window.yesladderEditor = view;

  async function check() {
    const mine = ++asked;
    document.body.dataset.asked = String(mine); // with data-checked: the check shown is the last
    const began = performance.now();
    const body = new FormData(form);
    body.set("text", view.state.doc.toString());
    body.delete("action");
    let answer;
    try {
      const response = await fetch(form.dataset.check, {
        method: "POST",
        body,
        headers: { "X-CSRFToken": body.get("csrfmiddlewaretoken") },
        credentials: "same-origin",
      });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.refused || response.statusText);
    } catch (error) {
      if (mine === asked) status(`Could not check: ${error.message}`);
      return;
    }
    if (mine !== asked) return; // a later check is on its way
    show(answer);
    times.push(performance.now() - began);
    document.body.dataset.checked = String(mine);
  }

  function show(answer) {
    const doc = view.state.doc;
    view.dispatch(
      setDiagnostics(
        view.state,
        answer.problems.map((p) => {
          const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
          return {
            from: line.from,
            to: line.to,
            severity: p.severity === "error" ? "error" : "warning",
            source: p.rule,
            message: p.message + (p.hint ? `\nHint: ${p.hint}` : ""),
          };
        }),
      ),
    );
    status(`${answer.errors} error${answer.errors === 1 ? "" : "s"}, ${answer.warnings} warning${answer.warnings === 1 ? "" : "s"}.`);
    const state = document.getElementById("lint-status");
    state.dataset.errors = answer.errors;
    state.dataset.warnings = answer.warnings;
    document.getElementById("warning-count").textContent = answer.warnings;
    findings(answer.problems);
    ladder(answer.ladder);
    diff(answer.diff);
    previews(answer.previews);
  }

  function status(text) {
    document.getElementById("lint-status").textContent = text;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function findings(problems) {
    const list = document.getElementById("findings");
    list.replaceChildren(
      ...problems.map((p) => {
        const item = el("li", undefined, p.severity);
        item.dataset.line = p.line;
        item.append(el("span", `line ${p.line}`, "where"), " ");
        item.append(el("span", p.rule, `severity ${p.severity}`), " ");
        item.append((p.field ? `${p.field}: ` : "") + p.message);
        if (p.hint) item.append(el("span", `Hint: ${p.hint}`, "detail"));
        return item;
      }),
    );
  }

  function ladder(rungs) {
    const body = document.querySelector("#ladder tbody");
    const fixed = (x) => x.toFixed(1);
    body.replaceChildren(
      ...rungs.map((r) => {
        const row = el("tr");
        const cells = [
          [r.step + (r.macro ? " (macro)" : "")], [r.kind], [String(r.effort_seconds), "number"],
          [r.new_fields.join(", ") || "–"], [fixed(r.money), "number"], [fixed(r.time), "number"],
          [fixed(r.total), "number"], [(r.jump >= 0 ? "+" : "") + fixed(r.jump), "number"],
        ];
        for (const [text, className] of cells) row.append(el("td", text, className));
        return row;
      }),
    );
  }

  function diff(lines) {
    const box = document.getElementById("diff");
    if (!lines.length) {
      box.replaceChildren(el("p", "No change yet.", "muted"));
      return;
    }
    const pre = el("pre", undefined, "diff");
    pre.setAttribute("aria-label", "Your changes");
    const kind = (line) =>
      line.startsWith("+++") || line.startsWith("---") ? "file"
        : ({ "+": "add", "-": "del", "@": "hunk" })[line[0]] || "same";
    pre.append(...lines.map((line) => el("span", line, kind(line))));
    box.replaceChildren(pre);
  }

  function previews(links) {
    const list = document.getElementById("previews");
    if (!links.length) {
      list.replaceChildren(el("li", "Fix the errors to preview it.", "muted"));
      return;
    }
    list.replaceChildren(
      ...links.map((p) => {
        const item = el("li");
        const link = el("a", p.title);
        link.href = p.url;
        link.target = "_blank";
        link.rel = "noopener";
        item.append(link, " ", el("span", `(${p.step})`, "muted"));
        return item;
      }),
    );
  }
}

document.addEventListener("DOMContentLoaded", start);
