// The upload-and-rate page: sends the photo to /api/search, shows the
// results, and posts star ratings to /api/ratings. The query's SHA-256 goes
// into the URL (?q=...), so a reload shows the same results and ratings.
"use strict";

const input = document.getElementById("photo-input");
const dropZone = document.getElementById("drop-zone");
const preview = document.getElementById("preview");
const hint = document.getElementById("drop-hint");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const resultsSection = document.getElementById("results");
const grid = document.getElementById("grid");
const template = document.getElementById("result-template");

let querySha256 = null;

function showStatus(text, loading) {
  statusLine.textContent = text;
  statusLine.classList.toggle("loading", Boolean(loading));
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

function showPreview(url) {
  preview.src = url;
  preview.hidden = false;
  hint.textContent = "Choose another photo, or drop it here";
}

// Returns the parsed JSON body, or throws an Error with the server's message.
async function requestJson(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new Error("The server cannot be reached. Check your connection and try again.");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error : `request failed with status ${response.status}`;
    throw new Error(message);
  }
  return body;
}

async function search(file) {
  if (!file) return;
  showError("");
  showPreview(URL.createObjectURL(file));
  resultsSection.hidden = true;
  showStatus("Searching the catalogue…", true);

  const form = new FormData();
  form.append("photo", file);
  try {
    const response = await requestJson("/api/search", { method: "POST", body: form });
    history.replaceState(null, "", `?q=${response.query_sha256}`);
    render(response);
  } catch (error) {
    showStatus("");
    showError(error.message);
  }
}

async function loadStored(sha256) {
  showStatus("Loading your last search…", true);
  try {
    const response = await requestJson(`/api/search/${encodeURIComponent(sha256)}`);
    showPreview(response.query_url);
    render(response);
  } catch (error) {
    showStatus("");
    showError(error.message);
    history.replaceState(null, "", location.pathname);
  }
}

function render(response) {
  querySha256 = response.query_sha256;
  grid.replaceChildren();

  for (const result of response.results) {
    const item = template.content.firstElementChild.cloneNode(true);
    const image = item.querySelector("img");
    image.src = result.url;
    image.alt = result.name || result.path;
    item.querySelector(".rank").textContent = `#${result.rank}`;
    item.querySelector(".name").textContent = result.name || result.path;
    item.querySelector(".category").textContent = result.category || "";
    item.querySelector(".distance").textContent = `distance ${result.distance.toFixed(3)}`;
    item.dataset.path = result.path;
    buildStars(item.querySelector(".stars"), result.path, result.stars);
    grid.append(item);
  }
  buildStars(document.querySelector("#set-rating .stars"), null, response.set_stars);

  const count = response.results.length;
  showStatus(count === 0 ? "The catalogue is empty." : `${count} most similar products, nearest first.`);
  resultsSection.hidden = false;
}

// Fills `container` with five star buttons rating `path` (null: the whole set).
function buildStars(container, path, stars) {
  container.replaceChildren();
  container.dataset.stars = stars || 0;
  for (let value = 1; value <= 5; value++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "★";
    button.dataset.value = value;
    button.title = `${value} star${value > 1 ? "s" : ""}`;
    button.setAttribute("aria-label", button.title);
    button.addEventListener("click", () => rate(container, path, value));
    container.append(button);
  }
  paintStars(container, stars || 0);
}

function paintStars(container, stars) {
  container.dataset.stars = stars;
  for (const button of container.children) {
    const on = Number(button.dataset.value) <= stars;
    button.classList.toggle("on", on);
    button.setAttribute("aria-pressed", String(on));
  }
}

async function rate(container, path, stars) {
  showError("");
  container.classList.add("saving");
  try {
    await requestJson("/api/ratings", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query_sha256: querySha256, path, stars }),
    });
    paintStars(container, stars);
  } catch (error) {
    showError(`Your rating was not saved: ${error.message}`);
  } finally {
    container.classList.remove("saving");
  }
}

input.addEventListener("change", () => search(input.files[0]));

for (const type of ["dragenter", "dragover"]) {
  dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  dropZone.addEventListener(type, () => dropZone.classList.remove("dragging"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  search(event.dataTransfer.files[0]);
});

const stored = new URLSearchParams(location.search).get("q");
if (stored) loadStored(stored);
