// Progressive enhancement for the Administration UI: every page works without this script.
"use strict";

const csrfToken = () => document.getElementById("main")?.dataset.csrf || "";

// Copy buttons: <button data-copy="element-id">.
function setUpCopyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent.trim();
      const status = button.parentElement.querySelector(".copied");
      try {
        await navigator.clipboard.writeText(text);
        if (status) status.textContent = "Copied.";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        if (status) status.textContent = "Selected: press Ctrl+C to copy.";
      }
    });
  }
}

// Parts that refresh themselves while open: <element id=... data-refresh="milliseconds">.
function setUpRefresh() {
  for (const element of document.querySelectorAll("[data-refresh][id]")) {
    const every = Number(element.dataset.refresh) || 5000;
    const refresh = async () => {
      const current = document.getElementById(element.id);
      if (!current || !current.hasAttribute("data-refresh")) return;
      if (document.visibilityState === "visible") {
        try {
          const response = await fetch(location.href, { headers: { Accept: "text/html" } });
          if (response.ok) {
            const page = new DOMParser().parseFromString(await response.text(), "text/html");
            const fresh = page.getElementById(element.id);
            if (fresh) current.replaceWith(document.importNode(fresh, true));
          }
        } catch {
          // Offline for a moment: try again at the next tick.
        }
      }
      setTimeout(refresh, every);
    };
    setTimeout(refresh, every);
  }
}

// The subscription form: show the settings that apply to the chosen type, authentication and trigger.
function setUpSubscriptionForm() {
  const form = document.querySelector("form.subscription-form");
  if (!form) return;
  const trigger = form.querySelector("#f-triggerId");
  const triggerType = () => {
    const option = trigger.tagName === "SELECT" ? trigger.selectedOptions[0] : trigger;
    return option ? option.dataset.triggerType || "" : "";
  };
  const applies = (element) => {
    if (element.hasAttribute("data-request-response-only") && triggerType() !== "REQUEST_RESPONSE") {
      return false;
    }
    const condition = element.dataset.shownWhen;
    if (!condition) return true;
    const [name, value] = condition.split("=");
    const control = form.elements.namedItem(name);
    return control !== null && control.value === value;
  };
  const update = () => {
    // Outer sections first, so an inner group inside a hidden section stays hidden.
    for (const element of form.querySelectorAll("[data-shown-when], [data-request-response-only]")) {
      const hiddenAbove = element.parentElement.closest("[hidden]") !== null;
      const show = !hiddenAbove && applies(element);
      element.hidden = !show;
      for (const control of element.querySelectorAll("input, select, textarea")) {
        control.disabled = !show;
      }
    }
  };
  form.addEventListener("change", update);
  update();
  setUpFilterEditor(form, trigger);
}

function setUpFilterEditor(form, trigger) {
  const filter = form.querySelector("#f-filter");
  const input = form.querySelector("#filter-input");
  const result = form.querySelector("#filter-result");
  const examples = JSON.parse(document.getElementById("trigger-examples").textContent);
  let inputEdited = false;
  let pending = null;

  const useExample = () => {
    const example = examples[trigger.value];
    input.value = example ? JSON.stringify(example, null, 2) : "";
    inputEdited = false;
    check();
  };
  const show = (text, state) => {
    result.textContent = text;
    result.dataset.state = state;
  };
  const check = async () => {
    const expression = filter.value.trim();
    if (!expression) return show("No filter: the subscription receives every event.", "neutral");
    let data;
    try {
      data = JSON.parse(input.value);
    } catch {
      return show("The test input is not valid JSON.", "error");
    }
    const response = await fetch("/ui/validate-filter", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ filter: expression, input: data }),
    });
    const answer = await response.json();
    if (!response.ok) return show(answer.messages?.[0]?.text || "Cannot check the filter.", "error");
    if (!answer.isValidJSONPath) {
      return show(`Not a valid JSONPath expression${answer.error ? `: ${answer.error}` : "."}`, "error");
    }
    show(answer.isPathExist ? "Match: this input would be delivered." : "No match: this input would not be delivered.",
      answer.isPathExist ? "match" : "nomatch");
  };
  const checkSoon = () => {
    clearTimeout(pending);
    pending = setTimeout(check, 250);
  };
  filter.addEventListener("input", checkSoon);
  input.addEventListener("input", () => {
    inputEdited = true;
    checkSoon();
  });
  trigger.addEventListener("change", () => {
    if (!inputEdited) useExample();
  });
  form.querySelector("#use-example").addEventListener("click", useExample);
  useExample();
}

setUpCopyButtons();
setUpRefresh();
setUpSubscriptionForm();
